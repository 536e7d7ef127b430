"""``vla experiment RECIPE``: one command from nothing to a measured success rate, resumable stage by stage.

    vla experiment recipes/experiments/libero_object_task0.yaml        # make reproduce
    vla experiment recipes/experiments/libero_object_task0.yaml train.recipe.training.steps=100

Stages, each skipped when its output is complete and continued when it was interrupted (kill the command at
any point and rerun it):

1. ``data``: scripted-expert demonstrations recorded in the simulator from random placements, never from
   the benchmark's evaluation initial states (each episode's distance to the nearest one is recorded);
2. ``tokenizer``: the action tokenizer fitted on the demonstrations' chunks;
3. ``train``: ``accelerate launch`` of the training recipe (checkpoints every ``save_every`` steps; a rerun
   resumes from the last one);
4. ``eval``: the trained policy with the standard protocol (the benchmark's own 50 initial states per
   task, standard step limits), then the baselines: a random policy and an open-loop replay of the task's
   mean demonstration (a policy that ignores what it sees).

``OUTPUT_DIR/results.json`` gathers every stage's figures (success with 95% intervals for the policy and
the baselines, wall time per stage, the data's leakage check, the training curve's ends, machine and
package versions); its path is printed last. ``results.md`` and ``results.png`` beside it show success per
task for the policy and each baseline, with the intervals.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vla.config import ConfigError, check, check_choice, to_dict
from vla.distributed import launch_command, run_training_subprocess
from vla.errors import TrainingStopped

if TYPE_CHECKING:
    from vla.data.dataset import ChunkedDataset
    from vla.tokenizers import ActionTokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES = ("data", "tokenizer", "train", "eval")
BASELINES = ("random", "mean_replay")
#: The figures of one success rate in results.json (a policy's overall, a task's, a baseline's).
RATE_KEYS = ("success_rate", "successes", "episodes", "ci95")
STAGE_TIMES_FILE = "stage_seconds.json"
RESULTS_FILE = "results.json"
#: Next to results.json: success per task for the policy and each baseline, as a markdown table and a chart.
COMPARISON_TABLE_FILE = "results.md"
COMPARISON_CHART_FILE = "results.png"


@dataclass(frozen=True)
class DataStage:
    suite: str = "libero_object"
    #: Task ids; empty means every task of the suite.
    tasks: tuple[int, ...] = (0,)
    episodes_per_task: int = 50
    #: Camera resolution of the recorded images (the size the model reads: nothing is resized).
    image_size: int = 128
    #: DART-style noise on the executed motion; recorded actions stay the expert's.
    action_noise: float = 0.1
    workers: int = 2
    #: Where the demonstrations live (default: OUTPUT_DIR/data). Point variants of one experiment (another
    #: tokenizer, more steps) at the same folder so that they train on the very same episodes.
    folder: str | None = None

    def __post_init__(self) -> None:
        check(self.episodes_per_task >= 1, "data.episodes_per_task", self.episodes_per_task, "must be >= 1")
        check(self.workers >= 1, "data.workers", self.workers, "must be >= 1")


@dataclass(frozen=True)
class TokenizerStage:
    type: str = "binning"
    #: Fields of the tokenizer's own config; the horizon comes from the training recipe's policy.horizon.
    options: dict[str, Any] = field(default_factory=dict)
    #: A fitted tokenizer to use instead of fitting one (a folder, a Hub id or a shipped name such as
    #: ``actioncodec-libero``); copied into OUTPUT_DIR/tokenizer, its horizon must be policy.horizon.
    pretrained: str | None = None

    def __post_init__(self) -> None:
        if self.pretrained is not None:
            check(
                not self.options,
                "tokenizer.options",
                self.options,
                "none with tokenizer.pretrained (it is fitted)",
            )


@dataclass(frozen=True)
class TrainStage:
    #: Processes for ``accelerate launch`` (2: the two CPU cores, over gloo).
    processes: int = 2
    #: A training recipe tree (as in recipes/*.yaml); data.dataset, tokenizer.pretrained and
    #: training.output_dir are filled in by the experiment.
    recipe: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(self.processes >= 1, "train.processes", self.processes, "must be >= 1")


@dataclass(frozen=True)
class EvalStage:
    suite: str = "libero_object"
    #: Task ids; empty means every task of the suite.
    tasks: tuple[int, ...] = (0,)
    episodes_per_task: int = 50
    num_envs: int | None = None
    #: Actions executed from each predicted chunk before the policy is asked again (None: the whole chunk).
    actions_per_chunk: int | None = None
    video: str = "first"
    videos_per_task: int = 2
    baselines: tuple[str, ...] = BASELINES

    def __post_init__(self) -> None:
        for baseline in self.baselines:
            check_choice("eval.baselines", baseline, BASELINES)


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    output_dir: str
    data: DataStage = field(default_factory=DataStage)
    tokenizer: TokenizerStage = field(default_factory=TokenizerStage)
    train: TrainStage = field(default_factory=TrainStage)
    eval: EvalStage = field(default_factory=EvalStage)

    def __post_init__(self) -> None:
        check(bool(self.name), "name", self.name, "a non-empty name")
        check(bool(self.output_dir), "output_dir", self.output_dir, "a folder")

    @property
    def out(self) -> Path:
        return Path(self.output_dir)

    @property
    def data_folder(self) -> Path:
        return Path(self.data.folder) if self.data.folder else self.out / "data"

    def train_overrides(self) -> dict[str, Any]:
        return {
            "data": {"dataset": str(self.data_folder)},
            "tokenizer": {"pretrained": str(self.out / "tokenizer")},
            "training": {"output_dir": str(self.out / "train")},
        }


def load_experiment(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Read an experiment YAML with ``key.path=value`` overrides; the training recipe is validated too.

    A YAML may start from another one with ``base: other.yaml`` (relative to itself) and change a few
    values: a variant of an experiment (another tokenizer, more steps) states only what differs.
    """
    from vla.config import from_dict, parse_overrides

    data = _experiment_tree(Path(path), seen=())
    config = from_dict(ExperimentConfig, merge_variant(data, parse_overrides(overrides)))
    horizon = train_config(config).policy.horizon  # fail before any stage runs
    if config.tokenizer.pretrained:
        check_pretrained_tokenizer(config.tokenizer, horizon)
    return config


def _experiment_tree(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    from vla.config import read_yaml

    if not path.is_file():
        raise ConfigError(f"experiment file {str(path)!r} does not exist")
    if path.resolve() in seen:
        raise ConfigError(f"experiment file {str(path)!r} is its own base (a cycle of base: entries)")
    data = read_yaml(path.read_text()) or {}
    base = data.pop("base", None)
    if base is None:
        return data
    return merge_variant(_experiment_tree(path.parent / str(base), (*seen, path.resolve())), data)


def merge_variant(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``, key by key (:func:`vla.config.merge`: a tokenizer of another type replaces
    the base's tokenizer section whole); with a pretrained tokenizer the base's fitting options are dropped
    (they never reach a tokenizer that is not fitted), its type is kept."""
    from vla.config import merge

    if update.get("tokenizer", {}).get("pretrained") and "tokenizer" in base:
        base = {**base, "tokenizer": {k: v for k, v in base["tokenizer"].items() if k != "options"}}
    return merge(base, update)


def train_config(config: ExperimentConfig):
    from vla.config import from_dict, merge
    from vla.train.config import TrainConfig

    recipe = config.train.recipe
    for key in ("dataset",):
        if key in recipe.get("data", {}):
            raise ConfigError(f"train.recipe.data.{key} is set by the experiment (its data stage); remove it")
    return from_dict(TrainConfig, merge(recipe, config.train_overrides()), prefix="train.recipe.")


# -- stage bookkeeping ---------------------------------------------------------------------------------
def _stage_times(out: Path) -> dict[str, float]:
    file = out / STAGE_TIMES_FILE
    return json.loads(file.read_text()) if file.is_file() else {}


def _add_stage_time(out: Path, stage: str, seconds: float) -> None:
    """Wall time per stage, accumulated over interrupted and resumed runs."""
    file = out / STAGE_TIMES_FILE
    times = _stage_times(out)
    times[stage] = round(times.get(stage, 0.0) + seconds, 1)
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps(times, indent=1))
    os.replace(tmp, file)


def _stage(number: int, stage: str, text: str) -> float:
    """Announce a stage; returns its start time."""
    print(f"[{number}/{len(STAGES)}] {stage}: {text}", flush=True)
    return time.perf_counter()


# -- stages --------------------------------------------------------------------------------------------
def run_data(config: ExperimentConfig) -> Path:
    from vla.data.record import GENERATION_FILE, generate_episodes

    d, folder = config.data, config.data_folder
    started = _stage(1, "data", f"{d.episodes_per_task} expert demonstrations per task of "
                     f"{d.suite} {list(d.tasks)} at {d.image_size} px, random placements")  # fmt: skip
    report = folder / "meta" / GENERATION_FILE
    if report.is_file():
        recorded = json.loads(report.read_text())
        wanted = {"suites": [d.suite], "task_ids": list(d.tasks) or None, "episodes_per_task": d.episodes_per_task,
                  "init_states": "random", "image_size": d.image_size, "action_noise": d.action_noise}  # fmt: skip
        differs = {k: recorded.get(k) for k in wanted if recorded.get(k) != wanted[k]}
        if differs:
            raise ConfigError(
                f"{folder} was recorded with {differs}, not this experiment's data settings; use another "
                "output_dir or delete that folder"
            )
        if "data" not in _stage_times(config.out):  # recorded by `vla data generate` with the same settings
            _add_stage_time(config.out, "data", recorded.get("record_seconds_this_run", 0.0))
        print(f"      done: {folder}")
        return folder
    generate_episodes(
        folder,
        suites=(d.suite,),
        task_ids=d.tasks or None,  # empty: every task of the suite
        episodes_per_task=d.episodes_per_task,
        workers=d.workers,
        successful_only=True,
        init_states="random",
        image_size=d.image_size,
        action_noise=d.action_noise,
    )
    _add_stage_time(config.out, "data", time.perf_counter() - started)
    return folder


def run_tokenizer(config: ExperimentConfig) -> Path:
    from vla.data.dataset import load_chunked_dataset
    from vla.train.tokenizer import fit_action_tokenizer

    folder = config.out / "tokenizer"
    horizon = train_config(config).policy.horizon
    t = config.tokenizer
    what = f"loading {t.pretrained}" if t.pretrained else f"fitting {t.type} on chunks of {horizon}"
    started = _stage(2, "tokenizer", what)
    if folder.is_dir():
        print(f"      done: {folder}")
        return folder
    dataset = load_chunked_dataset(config.data_folder, horizon)
    if t.pretrained:
        tokenizer = pretrained_tokenizer(t, horizon, dataset)
    else:
        tokenizer = fit_action_tokenizer(t.type, dataset, horizon, t.options)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, folder)
    print(f"      {tokenizer!r}")
    _add_stage_time(config.out, "tokenizer", time.perf_counter() - started)
    return folder


def check_pretrained_tokenizer(stage: TokenizerStage, horizon: int) -> ActionTokenizer:
    """``tokenizer.pretrained``, loaded and checked against the experiment (its type, its horizon)."""
    from vla.tokenizers import AutoActionTokenizer

    tokenizer = AutoActionTokenizer.from_pretrained(stage.pretrained)
    kind = tokenizer.tokenizer_type
    check(
        kind == stage.type, "tokenizer.type", stage.type, f"expected {kind!r}, the type of {stage.pretrained}"
    )
    check(tokenizer.horizon == horizon, "train.recipe.policy.horizon", horizon,
          f"expected {tokenizer.horizon}, the horizon {stage.pretrained} encodes")  # fmt: skip
    return tokenizer


def pretrained_tokenizer(stage: TokenizerStage, horizon: int, dataset: ChunkedDataset) -> ActionTokenizer:
    """``tokenizer.pretrained`` for this experiment's data: statistics that cannot describe the dataset's
    actions are refused, partial coverage warned."""
    from vla.data.dataset import check_stats_match

    tokenizer = check_pretrained_tokenizer(stage, horizon)
    check_stats_match(tokenizer.action_stats, dataset, "actions")
    return tokenizer


def _trainer_state(checkpoint: Path) -> dict[str, Any]:
    """The checkpoint's trainer_state.json (step, metrics, what `auto` resolved to); {} when absent."""
    from vla.train.trainer import TRAINER_STATE_FILE

    state = checkpoint / TRAINER_STATE_FILE
    return json.loads(state.read_text()) if state.is_file() else {}


def _checkpoint_step(checkpoint: Path) -> int | None:
    return _trainer_state(checkpoint).get("step")


def train_command(
    config: ExperimentConfig, recipe_file: Path, resume: bool, overwrite: bool = False
) -> list[str]:
    extra = ["training.resume=last"] if resume else ["training.overwrite=true"] if overwrite else []
    accelerate_config = REPO_ROOT / "recipes" / "accelerate" / "cpu2.yaml"
    return launch_command("vla.train", [str(recipe_file), *extra], config.train.processes, accelerate_config)


def run_train(config: ExperimentConfig) -> Path:
    import yaml

    tc = train_config(config)
    last = config.out / "train" / "checkpoints" / "last"
    started = _stage(
        3, "train",
        f"{tc.policy.base_model} for {tc.training.steps} steps, {config.train.processes} process(es)",
    )  # fmt: skip
    step = _checkpoint_step(last)
    if step is not None and step >= tc.training.steps:
        print(f"      done: {last.resolve()}")
        return last.resolve()
    recipe_file = config.out / "train_recipe.yaml"
    recipe_file.write_text(
        f"# written by vla experiment ({config.name}); launched as:\n# "
        + " ".join(train_command(config, recipe_file, False))
        + "\n"
        + yaml.safe_dump(to_dict(tc), sort_keys=False)
    )
    if step is not None:
        print(f"      resuming from step {step}")
    # A run stopped before its first checkpoint left nothing to resume from: it starts over.
    unfinished = step is None and (config.out / "train").is_dir() and any((config.out / "train").iterdir())
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    command = train_command(config, recipe_file, step is not None, overwrite=unfinished)
    status = run_training_subprocess(command, env, REPO_ROOT)
    if status != 0:  # the trainer has said why (or saved and said where it stopped) above
        saved = _checkpoint_step(last)
        raise TrainingStopped(
            f"training stopped (exit status {status}){'' if saved is None else f' after saving step {saved}'}; "
            f"rerun the same `vla experiment` command to continue"
        )
    _add_stage_time(config.out, "train", time.perf_counter() - started)
    return last.resolve()


def policy_specs(config: ExperimentConfig, checkpoint: Path) -> dict[str, str]:
    """Evaluation name -> policy spec: the trained policy first, then the baselines."""
    specs = {"policy": str(checkpoint)}
    for baseline in config.eval.baselines:
        specs[baseline] = "random" if baseline == "random" else f"replay:{config.data_folder}"
    return specs


def eval_folder(config: ExperimentConfig, name: str, checkpoint: Path) -> Path:
    """One folder per evaluated policy; the trained policy's is named after its checkpoint, so a longer
    training run is evaluated afresh rather than mixed with the episodes of an earlier checkpoint."""
    if name != "policy":
        return config.out / "eval" / name
    executed = f"-x{config.eval.actions_per_chunk}" if config.eval.actions_per_chunk else ""
    return config.out / "eval" / f"{name}-{checkpoint.name}{executed}"


def run_eval(config: ExperimentConfig, checkpoint: Path) -> dict[str, dict[str, Any]]:
    from vla.eval.config import EvalConfig
    from vla.eval.results import format_table
    from vla.eval.runner import evaluate

    e = config.eval
    started = _stage(4, "eval", f"{e.suite} {list(e.tasks) or 'all tasks'} x "
                     f"{e.episodes_per_task} episodes: policy, then {', '.join(e.baselines) or 'no baseline'}")  # fmt: skip
    results = {}
    for name, spec in policy_specs(config, checkpoint).items():
        print(f"      {name}: {spec}", flush=True)
        results[name] = evaluate(
            EvalConfig(
                policy=spec,
                suite=e.suite,
                task_ids=e.tasks,
                episodes_per_task=e.episodes_per_task,
                num_envs=e.num_envs,
                actions_per_chunk=e.actions_per_chunk if name == "policy" else None,
                video=e.video if name == "policy" else "none",
                videos_per_task=e.videos_per_task,
                output_dir=str(eval_folder(config, name, checkpoint)),
            )
        )
        print(format_table(results[name]), flush=True)
    if any(r.get("this_run", {}).get("episodes") for r in results.values()):  # not a finished one summarized
        _add_stage_time(config.out, "eval", time.perf_counter() - started)
    return results


# -- the whole experiment ------------------------------------------------------------------------------
def _metrics_summary(train_dir: Path) -> dict[str, Any]:
    file = train_dir / "metrics.jsonl"
    if not file.is_file():
        return {}
    rows = [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    if not rows:
        return {}
    first, last = rows[: min(10, len(rows))], rows[-min(10, len(rows)) :]
    state = _trainer_state(train_dir / "checkpoints" / "last")
    return {
        "steps": rows[-1]["step"],
        "loss_first_10": round(sum(r["loss"] for r in first) / len(first), 4),
        "loss_last_10": round(sum(r["loss"] for r in last) / len(last), 4),
        "samples_per_s_last": rows[-1].get("samples_per_s"),
        "loss_curve": [[r["step"], r["loss"]] for r in rows[:: max(1, len(rows) // 50)]],
    } | {  # what `auto` resolved to on this machine
        key: state[key] for key in ("attn_implementation", "mixed_precision") if key in state
    }


def _success(results: dict[str, Any]) -> dict[str, Any]:
    overall = results["overall"]
    keys = (*RATE_KEYS, "failures_by_gripper")
    return {k: overall[k] for k in keys if k in overall} | {
        "per_task": {
            name: {k: row[k] for k in keys if k in row} for name, row in results.get("per_task", {}).items()
        }
    }


def run_experiment(config: ExperimentConfig, until: str = STAGES[-1]) -> Path | None:
    """Run (or resume) every stage up to ``until``; returns the path of results.json (None when stopped
    before evaluation)."""
    from vla.data.record import GENERATION_FILE
    from vla.versions import machine_info, package_versions

    check_choice("until", until, STAGES)
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "experiment.json").write_text(json.dumps(to_dict(config), indent=1))
    data = run_data(config)
    if until == "data":
        return None
    tokenizer = run_tokenizer(config)
    if until == "tokenizer":
        return None
    checkpoint = run_train(config)
    if until == "train":
        return None
    evaluations = run_eval(config, checkpoint)
    generation = json.loads((data / "meta" / GENERATION_FILE).read_text())

    info = json.loads((data / "meta" / "info.json").read_text())
    times = _stage_times(out)
    results = {
        "experiment": config.name,
        "date": datetime.date.today().isoformat(),
        "machine": machine_info(),
        "versions": package_versions(),
        "config": to_dict(config),
        "data": {
            "folder": str(data),
            "episodes": info.get("total_episodes"),
            "frames": info.get("total_frames"),
            "expert_success": generation["overall"],
            "init_states": generation.get("init_states"),
            "min_distance_to_eval_states": generation["overall"].get("min_distance_to_eval_states"),
        },
        "tokenizer": str(tokenizer),
        "checkpoint": str(checkpoint),
        "training": _metrics_summary(out / "train"),
        "success": {name: _success(r) for name, r in evaluations.items()},
        "stage_seconds": times | {"total": round(sum(times.values()), 1)},
    }
    path = out / RESULTS_FILE
    path.write_text(json.dumps(results, indent=1))
    (out / COMPARISON_TABLE_FILE).write_text(per_task_table(results["success"]) + "\n")
    plot_comparison(results["success"], out / COMPARISON_CHART_FILE, title=config.name)
    print(summary_table(results))
    if len(next(iter(results["success"].values()))["per_task"]) > 1:
        print(f"per task: {out / COMPARISON_TABLE_FILE}, chart: {out / COMPARISON_CHART_FILE}")
    print(path.resolve())
    return path


def summary_table(results: dict[str, Any]) -> str:
    lines = [f"{'policy':<14} success   95% CI          episodes"]
    for name, row in results["success"].items():
        lo, hi = row.get("ci95", (float("nan"), float("nan")))
        lines.append(
            f"{name:<14} {100 * row['success_rate']:6.1f}%  [{100 * lo:5.1f}, {100 * hi:5.1f}]  {row['episodes']:>8}"
        )
    seconds = results["stage_seconds"]
    lines.append("wall time: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in seconds.items()))
    return "\n".join(lines)


def _rate_cell(row: dict[str, Any]) -> str:
    lo, hi = row["ci95"]
    return f"{row['successes']}/{row['episodes']} ({100 * row['success_rate']:.0f}%) [{100 * lo:.1f}, {100 * hi:.1f}]"


def per_task_table(success: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per task and one column per evaluated policy (results.json's ``success``): successes,
    rate and 95% interval, then the overall row."""
    names = list(success)
    tasks = list(success[names[0]]["per_task"])
    lines = ["| task | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for task in tasks:
        cells = [
            _rate_cell(success[n]["per_task"][task]) if task in success[n]["per_task"] else "" for n in names
        ]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    lines.append("| **overall** | " + " | ".join(f"**{_rate_cell(success[n])}**" for n in names) + " |")
    return "\n".join(lines)


def plot_comparison(success: dict[str, dict[str, Any]], path: Path, title: str = "") -> None:
    """Grouped bars: success per task and overall for every evaluated policy, with the 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(success)
    tasks = list(success[names[0]]["per_task"])
    groups = [*tasks, "overall"]
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(groups) + 3), 4))
    for i, name in enumerate(names):
        blocks = [success[name]["per_task"].get(t) for t in tasks] + [success[name]]
        rates = np.array([100 * b["success_rate"] if b else np.nan for b in blocks])
        lows = np.array([100 * b["ci95"][0] if b else np.nan for b in blocks])
        highs = np.array([100 * b["ci95"][1] if b else np.nan for b in blocks])
        x = np.arange(len(groups)) + (i - (len(names) - 1) / 2) * width
        ax.bar(x, rates, width, yerr=[rates - lows, highs - rates], capsize=2, label=name)
    ax.set_xticks(range(len(groups)), groups, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("success rate (%), 95% interval")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # never over a bar
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- several training seeds ----------------------------------------------------------------------------
#: ``vla experiment RECIPE --seeds 0,1,2``: the spread of one recipe over training seeds, beside OUTPUT_DIR.
SEEDS_FILE = "seeds.json"
SEEDS_TABLE_FILE = "seeds.md"


def recipe_seed(config: ExperimentConfig) -> int:
    """The recipe's own training seed; with ``--seeds`` its policy seed (the new token rows' initial
    values) must be the same number, as every other seed sets both."""
    tc = train_config(config)
    check(
        tc.policy.seed == tc.training.seed,
        "train.recipe.policy.seed",
        tc.policy.seed,
        f"equal to train.recipe.training.seed ({tc.training.seed}) with --seeds, which sets both to each seed",
    )
    return tc.training.seed


def seed_variant(config: ExperimentConfig, seed: int, baselines: bool = True) -> ExperimentConfig:
    """The experiment trained with another seed (data order, augmentation, initial values of the new
    token rows and adapters) on the very same demonstrations: recording does not depend on the training
    seed, so the data folder is shared. The recipe's own seed keeps OUTPUT_DIR (a finished run counts as
    that seed); seed N trains in the sibling ``OUTPUT_DIR_seedN``. ``baselines=False`` skips the
    baselines, which ignore the training seed."""
    from vla.config import from_dict

    tree = to_dict(config)
    if seed != recipe_seed(config):
        tree["name"] = f"{config.name}_seed{seed}"
        tree["output_dir"] = f"{config.output_dir.rstrip('/')}_seed{seed}"
        recipe = tree["train"]["recipe"]
        recipe["training"] = {**recipe.get("training", {}), "seed": seed}
        recipe["policy"] = {**recipe.get("policy", {}), "seed": seed}
    tree["data"]["folder"] = str(config.data_folder)
    if not baselines:
        tree["eval"]["baselines"] = []
    return from_dict(ExperimentConfig, tree)


def seed_variants(config: ExperimentConfig, seeds: tuple[int, ...]) -> list[ExperimentConfig]:
    """One experiment per seed. The baselines run once: with the recipe's own seed when it is listed (its
    OUTPUT_DIR/results.json keeps them, whatever the order of ``seeds``), else with the first seed."""
    check(
        len(seeds) >= 1 and len(set(seeds)) == len(seeds),
        "--seeds",
        ",".join(map(str, seeds)),
        "one or more distinct integers separated by commas, e.g. 0,1,2",
    )
    own = recipe_seed(config)
    with_baselines = own if own in seeds else seeds[0]
    return [seed_variant(config, seed, baselines=seed == with_baselines) for seed in seeds]


def run_seeds(config: ExperimentConfig, seeds: tuple[int, ...], until: str = STAGES[-1]) -> Path | None:
    """Run (or resume) the experiment once per training seed, one after the other, then write the spread
    of their success rates to OUTPUT_DIR/seeds.json (and seeds.md); returns its path (None when stopped
    before evaluation)."""
    variants = seed_variants(config, seeds)
    runs = []
    for i, (seed, variant) in enumerate(zip(seeds, variants, strict=True)):
        print(f"== seed {seed} ({i + 1}/{len(seeds)}): {variant.out}", flush=True)
        path = run_experiment(variant, until=until)
        if path is not None:
            runs.append(json.loads(path.read_text()))
    if until != STAGES[-1]:
        return None
    spread = seed_spread(runs, seeds, name=config.name)
    spread["episodes"] = episode_agreement(*gather_outcomes(variants, runs))
    config.out.mkdir(parents=True, exist_ok=True)  # not written yet when the recipe's own seed is not listed
    path = config.out / SEEDS_FILE
    path.write_text(json.dumps(spread, indent=1))
    (config.out / SEEDS_TABLE_FILE).write_text(seeds_table(spread) + "\n")
    print(seeds_table(spread))
    print(path.resolve())
    return path


def seed_spread(
    runs: list[dict[str, Any]], seeds: tuple[int, ...], name: str | None = None
) -> dict[str, Any]:
    """One recipe's results.json files, one per training seed -> the trained policy's success per seed and
    its spread across seeds (mean, standard deviation, min, max) next to the baselines' success. The 95%
    interval of one run covers only its own episodes; the spread across seeds is how far one training run
    of the recipe lands from the next on the same demonstrations."""
    import numpy as np

    from vla.eval.results import wilson_interval

    per_seed = []
    for seed, run in zip(seeds, runs, strict=True):
        policy = run["success"]["policy"]
        per_seed.append(
            {
                "seed": seed,
                "experiment": run["experiment"],
                **{k: policy[k] for k in RATE_KEYS},
                "failures_by_gripper": policy.get("failures_by_gripper"),
                "loss_last_10": run.get("training", {}).get("loss_last_10"),
                "train_minutes": round(run["stage_seconds"]["train"] / 60, 1)
                if "train" in run["stage_seconds"]
                else None,
                "cpu_model": run.get("machine", {}).get("cpu_model"),
            }
        )
    rates = np.array([row["success_rate"] for row in per_seed])
    successes = sum(row["successes"] for row in per_seed)
    episodes = sum(row["episodes"] for row in per_seed)
    baselines = {
        name: {k: row[k] for k in RATE_KEYS}
        for run in runs
        for name, row in run["success"].items()
        if name != "policy"
    }
    return {
        "experiment": name or runs[0]["experiment"],
        "date": datetime.date.today().isoformat(),
        "seeds": per_seed,
        "policy": {
            "mean_success_rate": float(rates.mean()),
            "std_success_rate": float(rates.std(ddof=1)) if len(rates) > 1 else None,
            "min_success_rate": float(rates.min()),
            "max_success_rate": float(rates.max()),
            "pooled": {
                "successes": successes,
                "episodes": episodes,
                "ci95": list(wilson_interval(successes, episodes)),
            },
        },
        "baselines": baselines,
    }


def seeds_table(spread: dict[str, Any]) -> str:
    """Markdown: one row per seed, then the spread and the baselines."""
    lines = ["| seed | success (95% CI) | loss, last 10 steps | training min |", "|---|---|---|---|"]
    for row in spread["seeds"]:
        lines.append(
            f"| {row['seed']} | {_rate_cell(row)} | {row['loss_last_10']} | {row['train_minutes']} |"
        )
    p = spread["policy"]
    std = "n/a" if p["std_success_rate"] is None else f"{100 * p['std_success_rate']:.1f} points"
    lines.append(
        f"| **{len(spread['seeds'])} seeds** | mean {100 * p['mean_success_rate']:.1f}%, std {std}, "
        f"min {100 * p['min_success_rate']:.0f}%, max {100 * p['max_success_rate']:.0f}% | | |"
    )
    for name, row in spread["baselines"].items():
        lines.append(f"| {name} | {_rate_cell(row)} | | |")
    if spread.get("episodes"):
        lines += ["", agreement_text(spread["episodes"])]
    return "\n".join(lines)


def gather_outcomes(
    variants: list[ExperimentConfig], runs: list[dict[str, Any]]
) -> tuple[list[dict[str, bool]], dict[str, dict[str, bool]]]:
    """Each seed's policy outcome per episode (``suite/task/episode`` -> success), and each baseline's,
    read from the evaluation folders the runs wrote; a run without them (e.g. its folder was moved) adds
    nothing."""
    from vla.eval.results import read_episodes

    policy: list[dict[str, bool]] = []
    baselines: dict[str, dict[str, bool]] = {}
    for variant, run in zip(variants, runs, strict=True):
        checkpoint = Path(run.get("checkpoint", ""))
        for name in run["success"]:
            rows = read_episodes(eval_folder(variant, name, checkpoint)).values()
            outcomes = {f"{r['suite']}/{r['task_id']}/{r['episode']}": bool(r["success"]) for r in rows}
            if name == "policy" and outcomes:
                policy.append(outcomes)
            elif outcomes:
                baselines.setdefault(name, outcomes)
    return policy, baselines


def episode_agreement(
    policy: list[dict[str, bool]], baselines: dict[str, dict[str, bool]] | None = None
) -> dict[str, Any] | None:
    """Whether the seeds fail on the same episodes (initial states), from their outcomes per episode.

    ``by_seeds_succeeding[k]`` counts the episodes that exactly k of the S seeds succeed from; ``if_alike``
    is that count if every episode had the same chance (the pooled rate): more episodes at 0 and S than
    that means some initial states are hard for any seed (what the policies share: data, model, recipe)
    rather than each seed failing at random. ``dispersion`` is the variance of the per-episode counts over
    the binomial one (1: episodes alike). For each baseline with its own outcomes: the policies' mean
    success on the episodes the baseline succeeds from and on those it fails (when it does both). None
    below two seeds."""
    import math

    if len(policy) < 2:
        return None
    keys = sorted(set.intersection(*(set(o) for o in policy)))
    if not keys:
        return None
    seeds = len(policy)
    counts = [sum(o[k] for o in policy) for k in keys]
    rate = sum(counts) / (seeds * len(keys))
    variance = sum((c - seeds * rate) ** 2 for c in counts) / len(
        counts
    )  # about the mean count, seeds * rate
    binomial = seeds * rate * (1 - rate)
    agreement: dict[str, Any] = {
        "seeds": seeds,
        "episodes": len(keys),
        "by_seeds_succeeding": {str(k): counts.count(k) for k in range(seeds + 1)},
        "if_alike": {
            str(k): round(len(keys) * math.comb(seeds, k) * rate**k * (1 - rate) ** (seeds - k), 1)
            for k in range(seeds + 1)
        },
        "dispersion": round(variance / binomial, 2) if binomial > 0 else None,
        "per_episode": dict(zip(keys, counts, strict=True)),
    }
    for name, outcomes in (baselines or {}).items():
        if len({outcomes.get(k) for k in keys} - {None}) < 2:
            continue  # a baseline that always fails (random) or always succeeds splits nothing
        split = {}
        for label, wanted in (("where_it_succeeds", True), ("where_it_fails", False)):
            chosen = [c for k, c in zip(keys, counts, strict=True) if outcomes.get(k) is wanted]
            split[label] = {  # neither side is empty: the baseline both succeeds and fails (above)
                "episodes": len(chosen),
                "policy_success_rate": round(sum(chosen) / (seeds * len(chosen)), 4),
            }
        agreement.setdefault("against_baselines", {})[name] = split
    return agreement


def agreement_text(agreement: dict[str, Any]) -> str:
    """The markdown lines of ``episode_agreement`` under the seeds table."""
    s = agreement["seeds"]
    histogram = ", ".join(f"{k}: {n}" for k, n in agreement["by_seeds_succeeding"].items())
    alike = ", ".join(f"{k}: {n:g}" for k, n in agreement["if_alike"].items())
    lines = [
        f"Episodes (of {agreement['episodes']}) that k of the {s} seeds succeed from: {histogram} "
        f"(if every episode had the same chance: {alike}; dispersion {agreement['dispersion']})."
    ]
    for name, split in agreement.get("against_baselines", {}).items():
        parts = [
            f"{label.replace('_', ' ')} ({row['episodes']} episodes): {100 * row['policy_success_rate']:.0f}%"
            for label, row in split.items()
        ]
        lines.append(f"The policies' success against {name}: " + "; ".join(parts) + ".")
    return "\n".join(lines)
