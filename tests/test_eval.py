"""The evaluation harness: protocol table, resume, sharding, error handling, outputs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vla.envs.libero.protocol import PROTOCOL
from vla.eval.config import EvalConfig
from vla.eval.results import format_table, read_episodes, summarize, wilson_interval
from vla.eval.runner import evaluate

ROOT = Path(__file__).resolve().parents[1]


def test_protocol_table_matches_the_public_results():
    assert {s: p.max_steps for s, p in PROTOCOL.items()} == {
        "libero_spatial": 280, "libero_object": 280, "libero_goal": 300, "libero_10": 520, "libero_90": 400,
    }  # fmt: skip
    assert EvalConfig().tasks("libero_10") == tuple(range(10))  # every task by default


def test_wilson_interval_and_summary():
    assert wilson_interval(0, 50)[0] == 0.0 and wilson_interval(50, 50)[1] == 1.0
    for n in range(
        1, 600
    ):  # rounding never puts a bound past the rate (a chart's error bar would be negative)
        for s in (0, n):
            lo, hi = wilson_interval(s, n)
            assert lo <= s / n <= hi
    lo, hi = wilson_interval(45, 50)
    assert lo < 0.9 < hi and hi - lo < 0.2
    rows = [{"suite": "libero_object", "task_id": t, "episode": e, "instruction": "x", "success": e < t}
            for t in (1, 2) for e in range(4)]  # fmt: skip
    summary = summarize(rows)
    assert summary["per_task"]["libero_object/1"]["successes"] == 1
    assert summary["overall"]["success_rate"] == 3 / 8
    assert summary["overall"]["failures_by_gripper"] == {}  # no final state recorded: nothing to tell

    # failed episodes by the Panda finger gap of their last state (state[6] - state[7])
    for row, gap in zip(rows, (0.001, 0.08, 0.025, 0.001, 0.001, 0.06, 0.079, 0.03), strict=True):
        row["final_state"] = [0.0] * 6 + [gap / 2, -gap / 2]
    by_end = summarize(rows)["overall"]["failures_by_gripper"]
    assert by_end == {"closed": 1, "partly_closed": 2, "open": 2}  # successes (e < t) are not counted
    assert list(by_end) == ["closed", "partly_closed", "open"]
    rows[1]["error"] = "the simulator crashed"  # an episode that never ended is not a failure of the policy
    assert summarize(rows)["overall"]["failures_by_gripper"] == {"closed": 1, "partly_closed": 2, "open": 1}
    from vla.envs import get_benchmark

    libero = get_benchmark("libero")
    assert [libero.gripper_at_end([0.0] * 6 + [g / 2, -g / 2]) for g in (0.0099, 0.0101, 0.07, 0.0701)] == [
        "closed", "partly_closed", "partly_closed", "open"]  # fmt: skip
    assert libero.gripper_at_end([0.0] * 7) is None  # not LIBERO's 8-value state: nothing to tell
    assert "failures by the gripper's end state: 1 closed, 2 partly closed, 1 open" in format_table(
        summarize(rows)
    )


@pytest.mark.libero
def test_resume_skips_finished_episodes_and_ignores_half_written_lines(tmp_path):
    config = EvalConfig(
        task_ids=(0,),
        policy="random",
        episodes_per_task=2,
        max_steps=4,
        video="first",
        output_dir=str(tmp_path),
        num_envs=1,
    )  # the vectorized resume: tests/test_eval_vector.py
    first = evaluate(config)
    assert first["overall"]["episodes"] == 2
    assert len(list((tmp_path / "videos").glob("*ep00*.mp4"))) == 1 and not list(
        (tmp_path / "videos").glob("*ep01*")
    )
    assert (tmp_path / "results.png").stat().st_size > 1000
    rank_file = tmp_path / "episodes" / "rank-00.jsonl"
    lines = rank_file.read_text().splitlines()
    kept = json.loads(lines[0])
    # a run killed during episode 1: its line is missing, and a partial line was left behind
    rank_file.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])
    second = evaluate(config)
    rows = read_episodes(tmp_path)
    assert len(rows) == 2 and second["overall"]["episodes"] == 2
    assert rows[("libero_object", 0, 0)] == kept  # not rerun
    assert second["eval_info"]["overall"]["n_episodes"] == 2


@pytest.mark.libero
def test_simulator_errors_are_recorded_and_retried(tmp_path, monkeypatch):
    import vla.eval.rollout as harness

    calls = {"n": 0}
    real = harness.run_episode

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("mujoco exploded")
        return real(*args, **kwargs)

    monkeypatch.setattr(harness, "run_episode", flaky)
    results = evaluate(EvalConfig(task_ids=(0,), policy="random", episodes_per_task=1, max_steps=3, video="none",
                                  output_dir=str(tmp_path)))  # fmt: skip
    row = read_episodes(tmp_path)[("libero_object", 0, 0)]
    assert "mujoco exploded" in row["errors"][0] and "Traceback" in row["errors"][0]
    assert row["steps"] == 3 and results["overall"]["episodes"] == 1
    assert row["simulator_retries"] == 1 and results["overall"]["simulator_retries"] == 1
    assert results["overall"]["errors"] == results["overall"]["simulator_errors"] == 0


@pytest.mark.libero
def test_harness_records_a_success_when_the_object_reaches_its_goal(tmp_path):
    from vla.envs.libero.env import LiberoEnv
    from vla.eval.rollout import run_episode

    class Teleport:
        """Moves the soup into the basket through the simulator, then waits."""

        name, invalid_chunks = "teleport", 0

        def reset(self, episode_seed):
            self.done = False

        def act(self, env, obs):
            if not self.done:
                sim, soup = env._env.sim, env._env.env.objects_dict["alphabet_soup_1"]
                qpos = sim.data.get_joint_qpos(soup.joints[-1]).copy()
                qpos[:3] = env.object_position("basket_1") + np.array([0.0, 0.0, 0.05])
                sim.data.set_joint_qpos(soup.joints[-1], qpos)
                sim.forward()
                self.done = True
            return np.array([[0, 0, 0, 0, 0, 0, -1.0]])

    config = EvalConfig(
        task_ids=(0,),
        policy="teleport",
        episodes_per_task=1,
        max_steps=30,
        video="none",
        output_dir=str(tmp_path),
    )
    with LiberoEnv("libero_object", 0) as env:
        row = run_episode(env, Teleport(), config, 0, 0, 30)
    assert row["success"] and row["steps"] < 30


@pytest.mark.libero
def test_two_process_sharding_equals_one_process(tmp_path):
    args = [
        "--policy",
        "scripted",
        "--tasks",
        "0",
        "--episodes-per-task",
        "2",
        "--max-steps",
        "6",
        "--video",
        "none",
        "--num-envs",
        "1",
    ]
    single = tmp_path / "single"  # the same run in this process: the reference needs no launcher
    evaluate(EvalConfig(policy="scripted", task_ids=(0,), episodes_per_task=2, max_steps=6, video="none",
                        num_envs=1, output_dir=str(single)))  # fmt: skip
    sharded = tmp_path / "sharded"
    result = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ROOT / "recipes/accelerate/cpu2.yaml"),
         "-m", "vla.eval", *args, "--out", str(sharded)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in (sharded / "episodes").glob("*.jsonl")) == [
        "rank-00.jsonl",
        "rank-01.jsonl",
    ]
    one, two = read_episodes(single), read_episodes(sharded)
    assert one.keys() == two.keys() and len(one) == 2
    for key in one:
        assert one[key]["success"] == two[key]["success"] and one[key]["steps"] == two[key]["steps"]
        np.testing.assert_allclose(one[key]["final_state"], two[key]["final_state"], atol=1e-6)
    merged = json.loads((sharded / "results.json").read_text())
    assert merged["overall"]["episodes"] == 2


@pytest.mark.libero
def test_several_suites_in_one_run_report_each_suite_and_the_overall_rate(tmp_path):
    config = EvalConfig(policy="random", suite="libero_object,libero_goal", task_ids=(0,), episodes_per_task=1,
                        max_steps=3, video="none", output_dir=str(tmp_path), num_envs=1)  # fmt: skip
    assert config.episode_keys() == [("libero_object", 0, 0), ("libero_goal", 0, 0)]
    results = evaluate(config)
    assert list(results["per_suite"]) == ["libero_object", "libero_goal"]
    assert list(results["per_task"]) == ["libero_object/0", "libero_goal/0"]
    assert results["overall"]["episodes"] == 2 and set(results["eval_info"]["per_group"]) == set(
        config.suites
    )
    assert results["protocol"]["max_steps"] == {"libero_object": 3, "libero_goal": 3}
    assert results["protocol"]["standard_max_steps"] == {"libero_object": 280, "libero_goal": 300}
    rows = read_episodes(tmp_path)
    assert rows.keys() == {("libero_object", 0, 0), ("libero_goal", 0, 0)}
    assert rows["libero_object", 0, 0]["instruction"] != rows["libero_goal", 0, 0]["instruction"]
    assert "libero_goal (suite)" in format_table(results)


@pytest.mark.libero
def test_an_episode_gets_the_same_fixtures_whatever_ran_before_it(tmp_path):
    """LIBERO redraws fixture placements from numpy's global state at each reset (libero_goal 0's cabinet
    and wine rack moved ~2 cm between two resets of episode 0): the harness seeds each episode's reset."""
    from vla.envs.libero.env import LiberoEnv
    from vla.eval.policies import RandomPolicy
    from vla.eval.rollout import reset_seed, run_episode

    config = EvalConfig(suite="libero_goal", task_ids=(0,), policy="random", episodes_per_task=2, max_steps=2,
                        video="none", output_dir=str(tmp_path))  # fmt: skip
    rows, placements = [], []
    with LiberoEnv("libero_goal", 0, cameras=()) as env:
        np.random.seed(12345)  # whatever ran before in this process
        for episode in (0, 1, 0):
            rows.append(run_episode(env, RandomPolicy(), config, 0, episode, 2))
            placements.append(env._env.sim.model.body_pos.copy())
    np.testing.assert_array_equal(placements[0], placements[2])  # bit for bit
    assert rows[0] == {**rows[2], "seconds": rows[0]["seconds"]}
    assert rows[0]["reset_seed"] == reset_seed(0, "libero_goal", 0, 0) == 1000  # lerobot-eval's default
    # the seed does move the fixtures: episode 1's scene is another draw
    assert np.abs(placements[1] - placements[0]).max() > 1e-3 and rows[1]["scene"] != rows[0]["scene"]


@pytest.mark.libero
def test_held_out_placements_are_seeded_apart_from_demonstrations_and_reported_as_not_standard(tmp_path):
    """``--init-states random``: each episode starts from a random placement of its own seed namespace (not
    an evaluation state, not a recorded demonstration's start), the same for a rerun; the results say the
    run is not the standard protocol."""
    from vla.data.record import MIN_DISTANCE_TO_EVAL_STATES, placement_seed
    from vla.envs.libero.env import LiberoEnv
    from vla.eval.policies import RandomPolicy
    from vla.eval.results import build_results
    from vla.eval.rollout import heldout_placement_seed, run_episode

    config = EvalConfig(task_ids=(0,), policy="random", episodes_per_task=2, max_steps=2, video="none",
                        init_states="random", output_dir=str(tmp_path))  # fmt: skip
    rows, placements = [], []
    with LiberoEnv("libero_object", 0, cameras=()) as env:
        for episode in (0, 1, 0):
            rows.append(run_episode(env, RandomPolicy(), config, 0, episode, 2))
            placements.append(env.start_state.copy())
    np.testing.assert_array_equal(placements[0], placements[2])  # a rerun or resume replays the same scene
    assert np.abs(placements[1] - placements[0]).max() > 1e-3
    assert (
        rows[0]["placement_seed"] == heldout_placement_seed(0, "libero_object", 0, 0)
        and "reset_seed" not in rows[0]
    )
    recorded = {placement_seed("libero_object", 0, episode) for episode in range(1000)}
    assert not {row["placement_seed"] for row in rows} & recorded
    assert min(row["distance_to_benchmark_states"] for row in rows) >= MIN_DISTANCE_TO_EVAL_STATES
    results = build_results(config, rows[:2])
    assert (
        results["protocol"]["standard_init_states"] is False
        and "held-out" in results["protocol"]["init_states"]
    )
    assert format_table(results).splitlines()[-1] == (
        "note: episodes start from held-out random placements, not the benchmark's initial states"
    )
    assert (
        "Not the standard protocol: episodes capped at 2 steps (standard: libero_object 280); episodes "
        "start from held-out random placements" in format_table(results, markdown=True)
    )
    with pytest.raises(ValueError, match="init_states"):
        EvalConfig(init_states="heldout")


@pytest.mark.libero
def test_a_rerun_into_the_folder_of_another_evaluation_is_refused(tmp_path):
    from vla.cli import main

    def run(policy="expert", max_steps=3, episodes=1, *extra):
        main(["eval", "--policy", policy, "--suite", "libero_object", "--tasks", "0", "--episodes-per-task",
              str(episodes), "--max-steps", str(max_steps), "--video", "none", "--num-envs", "1",
              "--out", str(tmp_path), *extra])  # fmt: skip

    run()
    expert_rows = read_episodes(tmp_path)
    assert json.loads((tmp_path / "fingerprint.json").read_text())["config"]["max_steps"] == 3
    with pytest.raises(SystemExit) as refused:
        run("random")
    message = str(refused.value)
    assert message.startswith(f"error: {tmp_path} holds episodes of another evaluation (")
    assert "policy.spec 'expert' there, 'random' now" in message and "--overwrite" in message
    assert "\n" not in message
    with pytest.raises(SystemExit, match="config.max_steps 3 there, None now"):
        main(["eval", "--policy", "expert", "--suite", "libero_object", "--tasks", "0", "--episodes-per-task", "1",
              "--out", str(tmp_path)])  # fmt: skip
    assert read_episodes(tmp_path) == expert_rows  # nothing was touched
    run("expert", 3, 2)  # more episodes of the same evaluation: a resume
    rows = read_episodes(tmp_path)
    assert len(rows) == 2 and rows[("libero_object", 0, 0)] == expert_rows[("libero_object", 0, 0)]
    # a folder written before a setting existed (here init_states) resumes: the setting reads as its default
    written = json.loads((tmp_path / "fingerprint.json").read_text())
    del written["config"]["init_states"]
    (tmp_path / "fingerprint.json").write_text(json.dumps(written))
    run("expert", 3, 2)
    with pytest.raises(SystemExit, match="config.init_states 'benchmark' there, 'random' now"):
        run("expert", 3, 2, "--init-states", "random")
    run("random", 3, 1, "--overwrite")
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(read_episodes(tmp_path)) == 1 and results["policy"] == {"spec": "random"}
    assert results["machine"]["cpu_count"] >= 1 and "cpu_bf16_flags" in results["machine"]
    assert json.loads((tmp_path / "fingerprint.json").read_text())["policy"] == {"spec": "random"}


def test_episodes_of_unknown_origin_are_refused(tmp_path):
    from vla.config import ConfigError

    (tmp_path / "episodes").mkdir()
    row = {
        "suite": "libero_object",
        "task_id": 0,
        "episode": 0,
        "success": True,
        "steps": 5,
        "instruction": "x",
    }
    (tmp_path / "episodes" / "rank-00.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(ConfigError, match="holds episodes without a fingerprint.json: cannot tell what ran"):
        evaluate(EvalConfig(policy="random", task_ids=(0,), episodes_per_task=1, output_dir=str(tmp_path)))


@pytest.mark.libero
def test_policy_errors_are_not_retried_stop_the_run_and_are_retried_on_resume(tmp_path, monkeypatch):
    import vla.eval.policies as policies
    from vla.eval.runner import EvaluationStopped

    class Broken(policies.RandomPolicy):
        def act(self, env, observation):
            raise RuntimeError("CUDA out of memory")

    config = EvalConfig(policy="random", task_ids=(0,), episodes_per_task=3, max_steps=3, video="none",
                        output_dir=str(tmp_path), num_envs=1, max_policy_errors=2)  # fmt: skip
    monkeypatch.setattr(policies, "load_rollout_policy", lambda spec, **kwargs: Broken())
    with pytest.raises(EvaluationStopped, match=r"stopped: 2 episodes in a row failed in the policy \(last: "
                       r"vla.eval.rollout.PolicyError: RuntimeError: CUDA out of memory\)"):  # fmt: skip
        evaluate(config)
    rows = read_episodes(tmp_path)
    assert sorted(rows) == [("libero_object", 0, 0), ("libero_object", 0, 1)]  # the third never ran
    for row in rows.values():
        assert row["error_kind"] == "policy" and len(row["errors"]) == 1  # no retry
        assert row["simulator_retries"] == 0 and "CUDA out of memory" in row["error"]
    assert summarize(list(rows.values()))["overall"] | {"ci95": None} == {
        "episodes": 2, "successes": 0, "success_rate": 0.0, "ci95": None, "errors": 2, "policy_errors": 2,
        "simulator_errors": 0, "simulator_retries": 0, "invalid_chunks": 0, "failures_by_gripper": {},
    }  # fmt: skip
    monkeypatch.undo()  # the policy is fixed: the errors are run again, the finished rows win
    results = evaluate(config)
    rows = read_episodes(tmp_path)
    assert len(rows) == 3 and not any(row.get("error") for row in rows.values())
    assert results["overall"]["errors"] == 0 and results["this_run"]["episodes"] == 3
    assert all(row["steps"] == 3 for row in rows.values())


def test_protocols_by_name_set_step_limits_and_replanning_and_are_recorded(tmp_path):
    from vla.cli import main
    from vla.eval.results import build_results

    lerobot, openpi = (
        EvalConfig(suite="libero_spatial"),
        EvalConfig(suite="libero_spatial", protocol="openpi"),
    )
    assert lerobot.protocol == "lerobot" and lerobot.max_steps_for("libero_spatial") == 280
    assert lerobot.chunk_actions is None  # each chunk as the policy gives it
    assert openpi.max_steps_for("libero_spatial") == 220 and openpi.chunk_actions == 5
    assert [openpi.max_steps_for(s) for s in ("libero_object", "libero_goal", "libero_10")] == [280, 300, 520]
    assert EvalConfig(protocol="openpi", actions_per_chunk=8).chunk_actions == 8
    results = build_results(openpi, [])
    assert results["protocol"]["name"] == "openpi" and results["protocol"]["actions_per_chunk"] == 5
    assert (
        results["protocol"]["standard_max_steps"]
        == results["protocol"]["max_steps"]
        == {"libero_spatial": 220}
    )
    assert not results["protocol"]["modified"] and results["config"]["protocol"] == "openpi"
    assert build_results(EvalConfig(protocol="openpi", actions_per_chunk=8), [])["protocol"]["modified"]
    assert "mujoco_gl" in results["rendering"]
    with pytest.raises(
        SystemExit,
        match=r"^error: protocol='pi0' is invalid: expected one of 'lerobot', 'openpi', 'libero_pro'$",
    ):
        main(["eval", "--policy", "random", "--protocol", "pi0", "--out", str(tmp_path)])


def test_action_samples_are_checked_and_refused_for_policies_that_draw_no_tokens(tmp_path):
    from vla.cli import main

    for field, value, allowed in (("action_samples", 0, "must be >= 1"), ("sample_temperature", 0.0, "> 0")):
        with pytest.raises(ValueError, match=f"{field}.*{allowed}"):
            EvalConfig(**{field: value})
    with pytest.raises(SystemExit) as refused:  # before any simulator starts
        main(["eval", "--policy", "random", "--action-samples", "4", "--tasks", "0", "--num-envs", "1",
              "--out", str(tmp_path)])  # fmt: skip
    message = str(refused.value)
    assert message == (
        "error: action_samples=4 (--action-samples) is invalid for random: only vla checkpoints and "
        "ensembles of them draw action tokens; use 1"
    )


@pytest.mark.libero
def test_rows_count_the_actions_executed_from_each_chunk_under_each_protocol(tmp_path):
    from vla.envs.libero.env import LiberoEnv
    from vla.eval.policies.lerobot import LerobotPolicy
    from vla.eval.rollout import run_episode
    from vla.testing import write_tiny_lerobot_policy

    folder = write_tiny_lerobot_policy(tmp_path / "act", image_size=32, n_action_steps=10, chunk_size=10)
    policy = LerobotPolicy(str(folder), device="cpu")
    executed = {}
    with LiberoEnv("libero_object", 0, image_size=32, cameras=policy.cameras) as env:
        for protocol in ("lerobot", "openpi"):
            config = EvalConfig(policy=f"lerobot:{folder}", protocol=protocol, task_ids=(0,), episodes_per_task=1,
                                video="none", output_dir=str(tmp_path / protocol))  # fmt: skip
            row = run_episode(env, policy, config, 0, 0, 12)
            assert row["steps"] == 12
            executed[protocol] = (row["chunks"], row["actions_per_chunk"])
    assert executed["lerobot"] == (2, {"2": 1, "10": 1})  # its n_action_steps, then cut by the step limit
    assert executed["openpi"] == (3, {"2": 1, "5": 2})  # replan every 5 actions


def test_every_eval_setting_is_a_vla_eval_option_with_the_same_default():
    import dataclasses

    from vla.cli import build_parser

    args = vars(build_parser().parse_args(["eval", "--policy", "random"]))
    defaults = dataclasses.asdict(EvalConfig(policy="random"))
    assert {name: args[name] for name in defaults} == defaults  # cmd_eval passes them by name


def test_policy_specs_resolve_through_the_classes_registrations():
    from vla.eval.policies import (
        CheckpointPolicy,
        EnsemblePolicy,
        ExpertPolicy,
        LerobotPolicy,
        MeanReplayPolicy,
        RandomPolicy,
        ScriptedPolicy,
        load_rollout_policy,
        register_policy,
        registered_policies,
    )

    assert registered_policies() == {
        "scripted": ScriptedPolicy, "expert": ExpertPolicy, "random": RandomPolicy,
        "replay:": MeanReplayPolicy, "ensemble:": EnsemblePolicy, "lerobot:": LerobotPolicy, None: CheckpointPolicy,
    }  # fmt: skip
    policy = load_rollout_policy("random", seed=3)
    assert type(policy) is RandomPolicy and policy.seed == 3
    with pytest.raises(ValueError, match="'random' is already registered to RandomPolicy"):
        register_policy("random")(type("AnotherRandom", (), {}))
    with pytest.raises(FileNotFoundError, match="lerobot:nowhere: no such folder"):
        load_rollout_policy("lerobot:nowhere")  # the prefix's class, given what follows the prefix


def test_an_ensemble_executes_the_mean_of_its_checkpoints_chunks(tmp_path, tiny_policy):
    import torch

    from vla.config import ConfigError
    from vla.eval.policies import CheckpointPolicy, EnsemblePolicy, load_rollout_policy
    from vla.eval.results import policy_identity
    from vla.model.policy import POLICY_FILE, VLAPolicy

    tiny_policy[0].save_pretrained(tmp_path / "a")
    other = VLAPolicy.from_pretrained(tmp_path / "a")  # a copy: the session's fixture stays as it is
    with torch.no_grad():  # another "training run": other weights, same inputs and tokenizer
        for parameter in other.model.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    other.save_pretrained(tmp_path / "b")
    spec = f"ensemble:{tmp_path / 'a'},{tmp_path / 'b'}"
    ensemble = load_rollout_policy(spec, device="cpu", dtype="float32")
    assert type(ensemble) is EnsemblePolicy and ensemble.cameras == ("image", "wrist_image")
    rng = np.random.default_rng(0)
    observations = [
        {"image": rng.integers(0, 255, (256, 256, 3), dtype=np.uint8),
         "wrist_image": rng.integers(0, 255, (256, 256, 3), dtype=np.uint8),
         "state": np.zeros(8), "task": "pick up the soup"} for _ in range(2)
    ]  # fmt: skip
    members = [
        CheckpointPolicy(tmp_path / n, device="cpu", dtype="float32").predict(observations) for n in "ab"
    ]
    assert not np.allclose(members[0][0], members[1][0])  # the two members disagree somewhere
    chunks, valid = ensemble.predict(observations)
    np.testing.assert_allclose(chunks, (members[0][0] + members[1][0]) / 2)
    assert (valid == members[0][1] & members[1][1]).all()
    # results name every member's weights; fewer than two checkpoints is refused in one line
    identity = policy_identity(spec)
    assert [m["path"] for m in identity["members"]] == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert identity["members"][0]["sha256"] != identity["members"][1]["sha256"]
    with pytest.raises(ConfigError, match="expected two or more distinct checkpoint folders"):
        load_rollout_policy(f"ensemble:{tmp_path / 'a'}")
    # members must see the same observations: refused when loading, naming the setting and both values
    saved = json.loads((tmp_path / "b" / POLICY_FILE).read_text())
    saved["config"]["image_size"] = 64
    (tmp_path / "b" / POLICY_FILE).write_text(json.dumps(saved))
    with pytest.raises(ConfigError, match=r"has image_size=64 but .*/a has 256; ensemble checkpoints"):
        load_rollout_policy(spec, device="cpu", dtype="float32")


def test_one_results_table_for_the_terminal_and_the_model_card(tmp_path):
    from vla.eval.results import build_results
    from vla.hub.card import write_policy_card

    rows = [{"suite": "libero_object", "task_id": t, "episode": e, "instruction": f"task {t}", "success": e <= t,
             "steps": 8} for t in (0, 1) for e in range(2)]  # fmt: skip
    results = build_results(EvalConfig(task_ids=(0, 1), episodes_per_task=2, max_steps=8), rows)
    terminal, markdown = format_table(results), format_table(results, markdown=True)
    assert terminal.splitlines()[1:5] == [
        "libero_object/0        50.0%         2  task 0",
        "libero_object/1       100.0%         2  task 1",
        "libero_object (suite)     75.0%         4",
        "overall                75.0%         4  95% CI [30.1, 95.4]",
    ]
    assert terminal.splitlines()[-1] == "note: episodes capped at 8 steps (standard: libero_object 280)"
    assert markdown.splitlines() == [
        "| task | success | episodes |",
        "|---|---|---|",
        "| libero_object/0 | 50.0% | 2 |",
        "| libero_object/1 | 100.0% | 2 |",
        "| libero_object (suite) | 75.0% | 4 |",
        "| **overall** | **75.0%** | 4 |",
        "",
        "Not the standard protocol: episodes capped at 8 steps (standard: libero_object 280).",
    ]
    card = write_policy_card(tmp_path, {}, eval_results=results, results_table=markdown).read_text()
    assert f"## LIBERO results\n\n{markdown}\n" in card and "value: 75.0" in card
