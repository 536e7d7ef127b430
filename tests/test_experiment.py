"""vla experiment: each stage is skipped when done and resumed when interrupted; the open-loop baseline."""

import dataclasses
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vla.testing import INSTRUCTION


def test_mean_demonstration_is_the_time_normalized_average(synthetic_dataset):
    from vla.data.dataset import load_chunked_dataset
    from vla.eval.policies import MeanReplayPolicy, load_rollout_policy, mean_demonstrations

    means = mean_demonstrations(synthetic_dataset)
    assert list(means) == [INSTRUCTION]
    mean = means[INSTRUCTION]
    data = load_chunked_dataset(synthetic_dataset, 1)
    actions, episodes = data.column("actions"), data.episode_index()
    first, second = actions[episodes == 0], actions[episodes == 1]  # 12 and 9 frames
    assert mean.shape == (10, 7)  # the median length
    np.testing.assert_allclose(mean[0, :6], (first[0, :6] + second[0, :6]) / 2, atol=1e-6)
    np.testing.assert_allclose(mean[-1, :6], (first[-1, :6] + second[-1, :6]) / 2, atol=1e-6)
    assert set(np.unique(mean[:, 6])) <= {-1.0, 1.0}

    policy = load_rollout_policy(f"replay:{synthetic_dataset}")
    assert isinstance(policy, MeanReplayPolicy) and policy.runs_in_env_worker and policy.cameras == ()
    from vla.envs import get_benchmark

    env = SimpleNamespace(instruction=INSTRUCTION, benchmark=get_benchmark("libero"))
    policy.reset(0)
    np.testing.assert_array_equal(policy.act(env, {}), mean)  # the whole replay, whatever it sees
    hold = policy.act(env, {})
    assert hold.shape == (1, 7) and not hold[0, :6].any() and hold[0, 6] == mean[-1, 6]
    policy.reset(1)
    assert len(policy.act(env, {})) == 10
    with pytest.raises(ValueError, match="no demonstration of 'open the drawer'"):
        policy.act(SimpleNamespace(instruction="open the drawer"), {})


def _experiment(tmp_path, synthetic_dataset, steps: int, processes: int = 1, **data):
    from vla.experiment import ExperimentConfig, load_experiment

    out = tmp_path / "exp"
    if not (out / "data").exists():  # the data stage's output, as the simulator would have left it
        shutil.copytree(synthetic_dataset, out / "data")
        report = {"suites": ["libero_object"], "task_ids": [0], "episodes_per_task": 2, "init_states": "random",
                  "image_size": 256, "action_noise": 0.1, "overall": {"episodes": 2}}  # fmt: skip
        (out / "data" / "meta" / "vla_generation.json").write_text(json.dumps(report))
    recipe = tmp_path / "exp.yaml"
    recipe.write_text(
        json.dumps(
            {
                "name": "t",
                "output_dir": str(out),
                "data": {"episodes_per_task": 2, "image_size": 256, **data},
                "tokenizer": {"type": "binning", "options": {"n_bins": 32}},
                "train": {
                    "processes": processes,
                    "recipe": {
                        "policy": {"base_model": "tiny", "horizon": 4},
                        "training": {"steps": steps, "batch_size": 2, "save_every": 1, "report_to": []},
                    },
                },
            }
        )
    )
    config = load_experiment(recipe)
    assert isinstance(config, ExperimentConfig)
    return config


def test_experiment_stages_are_skipped_when_done_and_training_resumes(tmp_path, synthetic_dataset, capsys):
    from vla.config import ConfigError
    from vla.experiment import eval_folder, policy_specs, run_data, run_tokenizer, run_train

    config = _experiment(tmp_path, synthetic_dataset, steps=1)
    assert run_data(config) == config.out / "data"
    assert "done:" in capsys.readouterr().out
    tokenizer = run_tokenizer(config)
    fitted = (tokenizer / "action_tokenizer.json").stat().st_mtime_ns
    assert run_tokenizer(config) == tokenizer and "done:" in capsys.readouterr().out
    assert (tokenizer / "action_tokenizer.json").stat().st_mtime_ns == fitted  # not fitted again

    first = run_train(config)
    assert json.loads((first / "trainer_state.json").read_text())["step"] == 1
    # a longer run in the same folder continues from the last checkpoint instead of starting over
    config = _experiment(tmp_path, synthetic_dataset, steps=2)
    capsys.readouterr()
    last = run_train(config)
    assert "resuming from step 1" in capsys.readouterr().out
    assert json.loads((last / "trainer_state.json").read_text())["step"] == 2
    assert [json.loads(line)["step"] for line in (config.out / "train" / "metrics.jsonl").open()] == [1, 2]
    assert run_train(config) == last and "done:" in capsys.readouterr().out
    from vla.experiment import _metrics_summary
    from vla.model.policy import choose_attn_implementation

    # results.json's training summary says what `auto` became on this machine
    summary = _metrics_summary(config.out / "train")
    assert summary["steps"] == 2 and summary["mixed_precision"] == "no"
    assert summary["attn_implementation"] == choose_attn_implementation("auto")
    stage_seconds = json.loads((config.out / "stage_seconds.json").read_text())
    assert set(stage_seconds) == {"data", "tokenizer", "train"}

    specs = policy_specs(config, last)
    assert specs == {"policy": str(last), "random": "random", "mean_replay": f"replay:{config.out / 'data'}"}
    assert eval_folder(config, "policy", last) == config.out / "eval" / "policy-step-000002"
    assert eval_folder(config, "random", last) == config.out / "eval" / "random"

    with pytest.raises(ConfigError, match="was recorded with .*'action_noise': 0.1"):
        run_data(_experiment(tmp_path, synthetic_dataset, steps=2, action_noise=0.3))

    # bench/experiment_tokenizers.py reads a run written before the horizon moved from data to policy,
    # and measures which inputs the trained policy reads
    from bench.experiment_tokenizers import experiment_row
    from vla.config import to_dict

    written = to_dict(config)
    recipe = written["train"]["recipe"]
    recipe.setdefault("data", {})["horizon"] = recipe["policy"].pop("horizon")
    (config.out / "experiment.json").write_text(json.dumps(written))
    policy = experiment_row(config.out, frames=4)["policy"]
    assert policy["frames"] == 4 and len(policy["free_run_error_first_action_xyz"]) == 3
    swapped = policy["input_swapped"]
    assert set(swapped) == {"other_frames_truth_first_action_change_xyz", "state", "images"}
    for what in ("state", "images"):
        assert set(swapped[what]) == {"first_action_change_xyz", "first_action_error_xyz"}
        assert all(v >= 0 for v in swapped[what]["first_action_change_xyz"])
    by_validity = policy["free_run_error_chunk_xyz_by_validity"]  # binning: every chunk is well-formed
    assert set(by_validity) == {"valid"} and by_validity["valid"]["chunks"] == 4
    assert by_validity["valid"]["error_xyz"] == policy["free_run_error_chunk_xyz"]


def test_stopping_the_experiment_process_alone_stops_its_training_with_a_checkpoint(
    tmp_path, synthetic_dataset
):
    """``kill <pid of vla experiment>`` (SIGTERM to that process only, as a scheduler does) reaches the
    training it launched: it saves and exits, nothing trains on orphaned, and the last line says how to go on."""
    import signal
    import subprocess
    import sys
    import time

    import psutil

    from vla.experiment import run_tokenizer

    config = _experiment(tmp_path, synthetic_dataset, steps=100000, processes=2)  # make reproduce's launcher
    run_tokenizer(config)
    recipe = tmp_path / "exp.yaml"
    proc = subprocess.Popen([sys.executable, "-m", "vla.cli", "experiment", str(recipe), "--until", "train"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    metrics, deadline = config.out / "train" / "metrics.jsonl", time.monotonic() + 900
    while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 2):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.2)
    trainers = psutil.Process(proc.pid).children(recursive=True)
    assert trainers
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=300)
    last = (config.out / "train" / "checkpoints" / "last").resolve()
    step = json.loads((last / "trainer_state.json").read_text())["step"]
    assert proc.returncode == 1, stderr[-3000:]
    assert stderr.splitlines()[-1] == (
        f"error: training stopped (exit status {128 + signal.SIGTERM}) after saving step {step}; rerun the same "
        "`vla experiment` command to continue"
    ), stderr[-3000:]
    assert f"interrupted by SIGTERM at step {step} of 100000" in stderr and "Traceback" not in stderr
    time.sleep(1)
    assert not [t for t in trainers if t.is_running() and t.status() != psutil.STATUS_ZOMBIE]


def test_experiment_recipe_errors_name_the_key(tmp_path):
    from vla.config import ConfigError
    from vla.experiment import load_experiment

    recipe = tmp_path / "e.yaml"
    recipe.write_text(
        json.dumps({"name": "t", "output_dir": str(tmp_path), "eval": {"baselines": ["oracle"]}})
    )
    with pytest.raises(ConfigError, match="eval.baselines"):
        load_experiment(recipe)
    recipe.write_text(json.dumps({"name": "t", "output_dir": str(tmp_path)}))
    with pytest.raises(ConfigError, match="train.recipe.training.stepz"):
        load_experiment(recipe, ["train.recipe.training.stepz=3"])
    from vla.experiment import load_experiment as load

    shipped = load("recipes/experiments/libero_object_task0.yaml")
    assert shipped.data.tasks == (0,) and shipped.eval.episodes_per_task == 50


def test_experiment_variants_start_from_a_base_and_change_the_tokenizer_whole(tmp_path):
    from vla.config import ConfigError
    from vla.experiment import TokenizerStage, load_experiment, train_config

    base = {"name": "b", "output_dir": str(tmp_path / "b"), "data": {"episodes_per_task": 7},
            "tokenizer": {"type": "binning", "options": {"n_bins": 32}}}  # fmt: skip
    (tmp_path / "base.yaml").write_text(json.dumps(base))
    (tmp_path / "sub").mkdir()
    variant = tmp_path / "sub" / "v.yaml"
    variant.write_text(
        json.dumps(
            {"base": "../base.yaml", "name": "v", "tokenizer": {"type": "fast", "options": {"scale": 5}}}
        )
    )
    config = load_experiment(variant)
    assert (config.name, config.data.episodes_per_task) == ("v", 7)  # inherited
    assert config.tokenizer.options == {"scale": 5}  # binning's n_bins never reaches FAST's config
    # the same rule for a command-line override of the type; same type: options merge key by key
    assert load_experiment(tmp_path / "base.yaml", ["tokenizer.type=fast"]).tokenizer.options == {}
    merged = load_experiment(tmp_path / "base.yaml", ["tokenizer.options.strategy=quantile"]).tokenizer
    assert merged.options == {"n_bins": 32, "strategy": "quantile"}

    (tmp_path / "base.yaml").write_text(json.dumps({**base, "base": "sub/v.yaml"}))
    with pytest.raises(ConfigError, match="cycle"):
        load_experiment(variant)
    variant.write_text(json.dumps({"base": "missing.yaml"}))
    with pytest.raises(ConfigError, match="missing.yaml.*does not exist"):
        load_experiment(variant)

    for shipped in ("fast", "actioncodec"):
        config = load_experiment(f"recipes/experiments/libero_object_task0_{shipped}.yaml")
        assert config.tokenizer.type == shipped
        assert config.data_folder.name == "data" and config.data.folder  # the binning run's episodes
    # the 1 s pair: the shipped ActionCodec (nothing fitted) against FAST, both at horizon 20, bf16 where native
    codec = load_experiment("recipes/experiments/libero_object_task0_h20_actioncodec.yaml")
    assert codec.tokenizer == TokenizerStage(type="actioncodec", pretrained="actioncodec-libero")
    fast = load_experiment("recipes/experiments/libero_object_task0_h20_fast.yaml")
    assert fast.tokenizer.type == "fast" and fast.tokenizer.pretrained is None
    for config in (codec, fast):
        recipe = train_config(config)
        assert recipe.policy.horizon == 20 and recipe.training.mixed_precision == "auto"
        assert config.data.folder == "outputs/experiments/libero_object_task0/data"
    # stage 2 at 1 s: stage 2's episodes, stage 1's best setting, everything else the base's
    stage2 = load_experiment("recipes/experiments/libero_object_all.yaml")
    stage2_h20 = load_experiment("recipes/experiments/libero_object_all_h20.yaml")
    assert stage2_h20.data_folder == stage2.data_folder and stage2_h20.out != stage2.out
    assert train_config(stage2_h20).policy.horizon == 20 and stage2_h20.tokenizer.options == {
        "vocab_size": 512,
        "max_tokens": 128,
    }
    assert train_config(stage2_h20).training.steps == train_config(stage2).training.steps
    # make reproduce's: it runs both baselines itself; the ActionCodec row reuses them (same episodes, states)
    assert fast.eval.baselines == ("random", "mean_replay") and codec.eval.baselines == ()
    # the stage-1 recipe: the 1 s FAST run with 100 demonstrations of its own, everything else the same
    hundred = load_experiment("recipes/experiments/libero_object_task0_h20_fast_100.yaml")
    assert hundred.data.episodes_per_task == 100 and hundred.data_folder == hundred.out / "data"
    hundred_recipe, fast_recipe = train_config(hundred), train_config(fast)
    assert hundred_recipe.policy == fast_recipe.policy
    assert hundred_recipe.training == dataclasses.replace(
        fast_recipe.training, output_dir=str(hundred.out / "train")
    )
    assert hundred.eval == fast.eval and hundred.tokenizer == fast.tokenizer
    augmented = train_config(load_experiment("recipes/experiments/libero_object_task0_h20_fast_aug.yaml"))
    assert augmented.data.image_transforms["enable"] and augmented.training.steps == 6000
    # make reproduce's: the faster model on that recipe's demonstrations, nothing else changed
    p16 = load_experiment("recipes/experiments/libero_object_task0_h20_fast_100_p16.yaml")
    assert p16.data_folder == hundred.data_folder and p16.eval == hundred.eval
    assert train_config(p16).policy == dataclasses.replace(hundred_recipe.policy, base_model="small-p16")
    # the tokenizer rows at make reproduce's setting: only the tokenizer (and where the run goes) differs
    p16_recipe = train_config(p16)
    for shipped, tokenizer in (
        ("actioncodec", TokenizerStage(type="actioncodec", pretrained="actioncodec-libero")),
        ("binning", TokenizerStage(type="binning", options={"n_bins": 256, "strategy": "uniform"})),
    ):
        row = load_experiment(f"recipes/experiments/libero_object_task0_h20_{shipped}_100_p16.yaml")
        assert row.tokenizer == tokenizer and row.data_folder == p16.data_folder and row.out != p16.out
        assert train_config(row).policy == p16_recipe.policy
        assert train_config(row).training == dataclasses.replace(
            p16_recipe.training, output_dir=str(row.out / "train")
        )
        assert row.eval == dataclasses.replace(p16.eval, baselines=())
    assert (
        "EXPERIMENT ?= recipes/experiments/libero_object_task0_h20_fast_100_p16.yaml"
        in (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    )


def test_experiment_until_stops_after_the_named_stage(tmp_path, synthetic_dataset):
    from vla.config import ConfigError
    from vla.experiment import run_experiment

    config = _experiment(tmp_path, synthetic_dataset, steps=1)
    assert run_experiment(config, until="tokenizer") is None
    assert (config.out / "tokenizer").is_dir() and not (config.out / "train").exists()

    # the tokenizer comparison reads what the experiment wrote (bench/experiment_tokenizers.py)
    from bench.experiment_tokenizers import experiment_row

    row = experiment_row(config.out, frames=4)
    assert row["tokenizer"]["type"] == "binning" and row["tokenizer"]["tokens_per_chunk_mean"] == 28
    assert max(row["tokenizer"]["reconstruction_mean_abs"]) < 0.1 and "policy" not in row
    with pytest.raises(ConfigError, match="until"):
        run_experiment(config, until="everything")


def test_experiment_results_show_every_policy_per_task_with_intervals(tmp_path):
    from vla.eval.results import summarize
    from vla.experiment import _success, per_task_table, plot_comparison

    def evaluated(successes_per_task):  # episode rows as the evaluation writes them, summarized by its code
        rows = [
            {"suite": "libero_object", "task_id": t, "success": e < k, "instruction": f"task {t}"}
            for t, k in enumerate(successes_per_task)
            for e in range(10)
        ]
        return _success(summarize(rows))

    success = {"policy": evaluated([7, 2]), "random": evaluated([0, 0]), "perfect": evaluated([10, 10])}
    table = per_task_table(success).splitlines()
    assert table[0] == "| task | policy | random | perfect |"
    assert (
        table[2]
        == "| libero_object/0 | 7/10 (70%) [39.7, 89.2] | 0/10 (0%) [0.0, 27.8] | 10/10 (100%) [72.2, 100.0] |"
    )
    assert table[-1].startswith("| **overall** | **9/20 (45%)")
    plot_comparison(success, tmp_path / "results.png", title="two tasks")
    assert (tmp_path / "results.png").stat().st_size > 1000


def test_experiment_tokenizer_stage_can_take_a_fitted_tokenizer(tmp_path, synthetic_dataset):
    from vla.config import ConfigError
    from vla.data.dataset import episode_action_chunks, load_chunked_dataset
    from vla.experiment import load_experiment, run_tokenizer
    from vla.tokenizers import AutoActionTokenizer, BinningActionTokenizer

    config = _experiment(tmp_path, synthetic_dataset, steps=1)  # policy.horizon 4
    chunks = episode_action_chunks(load_chunked_dataset(synthetic_dataset, 4), 4)
    BinningActionTokenizer(horizon=4, action_dim=7, n_bins=16).fit(chunks).save_pretrained(
        tmp_path / "fitted"
    )
    BinningActionTokenizer(horizon=2, action_dim=7).fit(chunks[:, :2]).save_pretrained(tmp_path / "short")
    recipe = tmp_path / "exp.yaml"

    def use(folder, *more):  # the recipe's options (32 bins) do not reach a tokenizer that is not fitted
        return load_experiment(recipe, [f"tokenizer.pretrained={tmp_path / folder}", *more])

    # refused when the experiment is read, before hours of recording
    with pytest.raises(
        ConfigError, match=r"train.recipe.policy.horizon=4 is invalid: expected 2, the horizon"
    ):
        use("short")
    with pytest.raises(
        ConfigError, match=r"tokenizer.type='fast' is invalid: expected 'binning', the type of"
    ):
        use("fitted", "tokenizer.type=fast")
    with pytest.raises(ConfigError, match="tokenizer.options=.*none with tokenizer.pretrained"):
        use("fitted", "tokenizer.options.n_bins=8")
    config = use("fitted")
    assert config.tokenizer.type == "binning" and config.tokenizer.options == {}  # the base's type is kept
    folder = run_tokenizer(config)
    assert folder == config.out / "tokenizer"
    assert AutoActionTokenizer.from_pretrained(folder).config.n_bins == 16  # copied, not fitted again


def test_tokenizer_comparison_counts_how_far_a_fast_row_is_off():
    # bench/experiment_tokenizers.py: a malformed FAST row is described by how many coefficients it spells
    from bench.experiment_tokenizers import coefficients_off
    from vla.tokenizers import FastActionTokenizer
    from vla.tokenizers.diagnostics import synthetic_chunks

    chunks = synthetic_chunks(n_episodes=4, length=20)[0]
    tokenizer = FastActionTokenizer(vocab_size=128).fit(chunks)
    ids = tokenizer.encode(chunks[:3])
    rows = [row[row >= 0] for row in ids]  # as the model emits them: no padding
    assert coefficients_off(tokenizer, rows) == [0, 0, 0]
    lengths, _ = tokenizer.token_lengths()
    short, long = rows[0][:-1], np.append(rows[1], rows[1][0])
    assert coefficients_off(tokenizer, [short, long]) == [-lengths[rows[0][-1]], lengths[rows[1][0]]]
    assert not tokenizer.decode([short, long]).valid.any()


def test_seeds_train_apart_on_the_same_demonstrations(tmp_path, synthetic_dataset):
    from vla.config import ConfigError
    from vla.experiment import run_seeds, seed_variant, seed_variants, train_config

    config = _experiment(tmp_path, synthetic_dataset, steps=1)
    assert seed_variant(config, 0).out == config.out  # the recipe's own seed: a finished run counts
    other = seed_variant(config, 3, baselines=False)
    assert other.out == Path(f"{config.output_dir}_seed3") and other.name == "t_seed3"
    assert other.data_folder == config.out / "data" and other.eval.baselines == ()
    assert train_config(other).training.seed == 3 and train_config(other).policy.seed == 3
    assert (
        train_config(other).training.steps == 1
        and seed_variant(config, 3).eval.baselines == config.eval.baselines
    )
    assert train_config(config).training.seed == 0  # the variant is a copy: the recipe's tree is untouched

    assert run_seeds(config, (0, 3), until="tokenizer") is None
    written = json.loads((other.out / "experiment.json").read_text())
    assert written["data"]["folder"] == str(config.out / "data") and not (other.out / "data").exists()
    assert written["train"]["recipe"]["training"]["seed"] == 3
    assert (config.out / "tokenizer").is_dir() and (other.out / "tokenizer").is_dir()
    with pytest.raises(ConfigError, match="--seeds='1,1' is invalid: one or more distinct integers"):
        run_seeds(config, (1, 1))
    # the baselines run once, with the recipe's own seed wherever it is listed, else with the first
    assert [v.eval.baselines != () for v in seed_variants(config, (3, 0, 4))] == [False, True, False]
    assert [v.eval.baselines != () for v in seed_variants(config, (3, 4))] == [True, False]
    bad = dataclasses.replace(config, train=dataclasses.replace(config.train, recipe={
        **config.train.recipe, "policy": {**config.train.recipe["policy"], "seed": 5}}))  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"policy.seed=5 is invalid: equal to train.recipe.training.seed \(0\)"
    ):
        run_seeds(bad, (1,))


def test_seeds_write_the_spread_beside_the_recipes_output(tmp_path, synthetic_dataset, monkeypatch):
    """run_seeds gathers each seed's results.json, whichever seeds ran, into OUTPUT_DIR/seeds.json (the
    stages themselves are tested above: here each run writes the results.json an evaluation would)."""
    import vla.experiment as experiment

    config = experiment.seed_variant(_experiment(tmp_path, synthetic_dataset, steps=1), 7)  # not created
    evaluated = []

    def finished_run(variant, until):
        seed = experiment.train_config(variant).training.seed
        row = {"success_rate": seed / 10, "successes": seed * 5, "episodes": 50, "ci95": [0.0, 1.0]}
        success = {"policy": row} | {b: row for b in variant.eval.baselines}
        checkpoint = variant.out / "train" / "checkpoints" / "step-000001"
        for name in success:  # episode 0 succeeds under every seed, episode 1 under seed 4 only
            episodes = experiment.eval_folder(variant, name, checkpoint) / "episodes"
            episodes.mkdir(parents=True)
            (episodes / "rank-00.jsonl").write_text("".join(
                json.dumps({"suite": "s", "task_id": 0, "episode": e, "success": e == 0 or seed == 4}) + "\n"
                for e in (0, 1)))  # fmt: skip
        path = variant.out / "results.json"
        path.write_text(json.dumps({"experiment": variant.name, "success": success, "stage_seconds": {},
                                    "checkpoint": str(checkpoint)}))  # fmt: skip
        evaluated.append((seed, list(variant.eval.baselines)))
        return path

    monkeypatch.setattr(experiment, "run_experiment", finished_run)
    path = experiment.run_seeds(config, (2, 4))
    assert path == config.out / "seeds.json" and evaluated == [(2, ["random", "mean_replay"]), (4, [])]
    spread = json.loads(path.read_text())
    assert spread["experiment"] == config.name and [r["successes"] for r in spread["seeds"]] == [10, 20]
    assert (
        spread["policy"]["mean_success_rate"] == pytest.approx(0.3)
        and spread["seeds"][0]["train_minutes"] is None
    )
    assert list(spread["baselines"]) == ["random", "mean_replay"]
    assert "mean 30.0%, std 14.1 points" in (config.out / "seeds.md").read_text()
    # outcomes per episode, read from each seed's evaluation folders (the baselines' from seed 2's)
    assert spread["episodes"]["per_episode"] == {"s/0/0": 2, "s/0/1": 1}
    assert spread["episodes"]["against_baselines"]["random"]["where_it_fails"]["episodes"] == 1
    assert (
        "Episodes (of 2) that k of the 2 seeds succeed from: 0: 0, 1: 1, 2: 1"
        in (config.out / "seeds.md").read_text()
    )


def test_episode_agreement_tells_hard_initial_states_from_seeds_failing_at_random():
    from vla.experiment import agreement_text, episode_agreement

    keys = [f"s/0/{e}" for e in range(4)]
    # the same two episodes fail under both seeds: the states are hard, not the seeds unlucky
    alike = [dict(zip(keys, (True, True, False, False), strict=True))] * 2
    hard = episode_agreement(alike, {"mean_replay": dict(zip(keys, (True, False, True, False), strict=True))})
    assert hard["by_seeds_succeeding"] == {"0": 2, "1": 0, "2": 2} and hard["if_alike"] == {
        "0": 1.0,
        "1": 2.0,
        "2": 1.0,
    }
    assert hard["dispersion"] == 2.0  # all the variance is between episodes: twice the binomial one
    assert hard["against_baselines"]["mean_replay"] == {
        "where_it_succeeds": {"episodes": 2, "policy_success_rate": 0.5},
        "where_it_fails": {"episodes": 2, "policy_success_rate": 0.5},
    }
    # each seed fails on other episodes: every episode succeeds under exactly one seed
    crossed = [
        dict(zip(keys, (True, False, True, False), strict=True)),
        dict(zip(keys, (False, True, False, True), strict=True)),
    ]
    spread = episode_agreement(crossed, {"random": dict.fromkeys(keys, False)})
    assert spread["dispersion"] == 0.0 and "against_baselines" not in spread  # random fails everywhere
    text = agreement_text(hard)
    assert text.startswith("Episodes (of 4) that k of the 2 seeds succeed from: 0: 2, 1: 0, 2: 2 (if every")
    assert (
        "against mean_replay: where it succeeds (2 episodes): 50%; where it fails (2 episodes): 50%." in text
    )
    # episodes some seed has not run are left out; one seed, or none in common, says nothing
    assert episode_agreement([alike[0], {**alike[0], "s/0/9": True}])["episodes"] == 4
    assert episode_agreement(alike[:1]) is None and episode_agreement([{"a": True}, {"b": True}]) is None


def test_seed_spread_puts_each_seed_beside_the_spread_and_the_baselines():
    from vla.experiment import seed_spread, seeds_table

    def run(name, successes, baselines=()):
        row = {"success_rate": successes / 50, "successes": successes, "episodes": 50, "ci95": [0.1, 0.9]}
        success = {"policy": row} | {b: dict(row, successes=0, success_rate=0.0) for b in baselines}
        return {"experiment": name, "success": success, "training": {"loss_last_10": 3.5},
                "stage_seconds": {"train": 600.0}, "machine": {"cpu_model": "cpu"}}  # fmt: skip

    spread = seed_spread([run("a", 39, ("random",)), run("a_seed1", 18), run("a_seed2", 30)], (0, 1, 2))
    assert [row["seed"] for row in spread["seeds"]] == [0, 1, 2] and spread["seeds"][1]["successes"] == 18
    policy = spread["policy"]
    assert policy["mean_success_rate"] == pytest.approx(0.58) and policy["min_success_rate"] == 0.36
    assert policy["std_success_rate"] == pytest.approx(np.std([0.78, 0.36, 0.6], ddof=1))
    assert policy["pooled"]["successes"] == 87 and policy["pooled"]["episodes"] == 150
    assert list(spread["baselines"]) == ["random"] and spread["seeds"][0]["train_minutes"] == 10.0
    table = seeds_table(spread).splitlines()
    assert table[2] == "| 0 | 39/50 (78%) [10.0, 90.0] | 3.5 | 10.0 |"
    assert table[5].startswith("| **3 seeds** | mean 58.0%, std 21.1 points, min 36%, max 78%")
    assert table[6].startswith("| random | 0/50 (0%)")
    one = seed_spread([run("a", 39)], (0,))
    assert one["policy"]["std_success_rate"] is None and "std n/a" in seeds_table(one)
