"""The results of an evaluation: success rates with their intervals per task, suite and overall, the
``results.json`` and lerobot-eval's ``eval_info.json`` built from the episode rows, the chart, the table
(terminal and model card), and the fingerprint that says whether two runs' episodes may be merged.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from vla.config import to_dict
from vla.envs import DEFAULT_PROTOCOL, benchmark_for_suite
from vla.envs.base import GRIPPER_END_STATES
from vla.eval.config import EvalConfig
from vla.eval.rollout import HELDOUT_SEED_KEY, LEROBOT_START_SEED
from vla.versions import machine_info, package_versions

#: Every process appends its finished episodes to ``episodes/rank-NN.jsonl`` under the output folder.
EPISODES_DIR = "episodes"
FINGERPRINT_FILE = "fingerprint.json"


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a success rate (well-behaved at 0% and 100%)."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at 0% and 100% rounding can put a bound 1e-14 past the rate (charts then refuse a negative error bar)
    return (min(p, max(0.0, center - half)), max(p, min(1.0, center + half)))


def failures_by_gripper(episodes: list[dict[str, Any]]) -> dict[str, int]:
    """Failed episodes counted by how their gripper ended (``Benchmark.gripper_at_end`` of the last
    state): ``closed``, ``partly_closed``, ``open``; empty when the benchmark cannot tell."""
    counts: dict[str, int] = {}
    for row in episodes:
        if row["success"] or row.get("error") or "final_state" not in row:
            continue
        end = benchmark_for_suite(row["suite"]).gripper_at_end(row["final_state"])
        if end is not None:
            counts[end] = counts.get(end, 0) + 1
    return {name: counts[name] for name in GRIPPER_END_STATES if name in counts}


def summarize(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    def block(rows):
        n, s = len(rows), sum(r["success"] for r in rows)
        lo, hi = wilson_interval(s, n)
        return {
            "episodes": n,
            "successes": s,
            "success_rate": s / n if n else 0.0,
            "ci95": [lo, hi],
            "errors": sum(1 for r in rows if r.get("error")),
            "policy_errors": sum(1 for r in rows if r.get("error_kind") == "policy"),
            "simulator_errors": sum(1 for r in rows if r.get("error") and r.get("error_kind") != "policy"),
            #: episodes run again after a simulator crash (a dead worker included)
            "simulator_retries": sum(r.get("simulator_retries", 0) for r in rows),
            "invalid_chunks": sum(r.get("invalid_chunks", 0) for r in rows),
            #: failed episodes by how the gripper ended them (closed on nothing: a missed grasp)
            "failures_by_gripper": failures_by_gripper(rows),
        }

    per_task: dict[str, list] = {}
    suites: dict[str, list] = {}
    for row in episodes:
        per_task.setdefault(f"{row['suite']}/{row['task_id']}", []).append(row)
        suites.setdefault(row["suite"], []).append(row)
    return {
        # in the order of the episodes (the evaluation's suite order, tasks ascending)
        "per_task": {
            key: {**block(rows), "instruction": rows[0]["instruction"]} for key, rows in per_task.items()
        },
        "per_suite": {suite: block(rows) for suite, rows in suites.items()},
        "overall": block(episodes),
    }


def read_episodes(out: Path) -> dict[tuple[str, int, int], dict[str, Any]]:
    """Finished episodes from every rank's file; a half-written last line (killed run) is ignored."""
    rows: dict[tuple[str, int, int], dict[str, Any]] = {}
    for file in sorted((out / EPISODES_DIR).glob("rank-*.jsonl")):
        for line in file.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            key = (row["suite"], row["task_id"], row["episode"])
            if key not in rows or not row.get("error") or rows[key].get("error"):
                rows[key] = row  # an episode rerun after an error: its finished row wins, whatever the file
    return rows


def drop_partial_last_line(file: Path) -> None:
    """A run killed while writing leaves a line without its newline: cut it so appends stay parseable."""
    data = file.read_bytes()
    if data and not data.endswith(b"\n"):
        file.write_bytes(data[: data.rfind(b"\n") + 1])


def _hub_id_or_missing_checkpoint(name: str, is_checkpoint_spec: bool) -> bool:
    """``name`` (a spec without its ``lerobot:`` prefix) is not a folder here and reads as a Hub id
    (``owner/name``) or, for a checkpoint spec, as a path (a ``/`` in it); registered names (``random``)
    and other prefixed specs (``replay:...``) are neither."""
    if Path(name).exists() or ":" in name:
        return False
    return name.count("/") == 1 or (is_checkpoint_spec and "/" in name)


def policy_identity(spec: str) -> dict[str, Any]:
    """What was evaluated: the spec and, for a checkpoint folder or Hub id, its resolved path, the Hub
    revision (commit) it was read at, and the weights' sha256."""
    from vla.eval.policies.ensemble import ENSEMBLE_PREFIX, ensemble_members
    from vla.eval.policies.lerobot import LEROBOT_PREFIX
    from vla.hub import file_sha256, resolve_pretrained

    identity: dict[str, Any] = {"spec": spec}
    if spec.startswith(ENSEMBLE_PREFIX):
        return identity | {
            "members": [policy_identity(m) for m in ensemble_members(spec[len(ENSEMBLE_PREFIX) :])]
        }
    name = spec.removeprefix(LEROBOT_PREFIX)
    is_checkpoint_spec = name == spec  # no lerobot: prefix
    folder = Path(name)
    if _hub_id_or_missing_checkpoint(name, is_checkpoint_spec):
        # a Hub id resolves to its cached snapshot (or downloads); a missing checkpoint path is refused here,
        # in one line, before accelerate and the simulator load
        folder = resolve_pretrained(name, kind="VLA policy" if is_checkpoint_spec else "policy")
        if folder.parent.name == "snapshots":
            identity["hub_revision"] = folder.name
    if folder.is_dir():
        identity["path"] = str(folder.resolve())
        for name in ("model.safetensors", "adapter_model.safetensors"):
            if (folder / name).is_file():
                identity["weights"] = name
                identity["sha256"] = file_sha256(folder / name)
        # config, tokenizer, normalization statistics: a policy is more than its weights
        files = sorted(
            p for p in folder.rglob("*.json") if "training_state" not in p.relative_to(folder).parts
        )
        digest = hashlib.sha256()
        for path in files:
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
        identity["json_sha256"] = digest.hexdigest()
    return identity


#: Fields that choose which episodes run, on how many workers, what is filmed, or how the run behaves:
#: they may change between a run and its resume. Every other field can change an episode's row.
#: ``policy`` is fingerprinted through its identity (weights' sha256 for a folder, whatever its path).
UNFINGERPRINTED_FIELDS = ("policy", "suite", "task_ids", "episodes_per_task", "output_dir", "num_envs", "video",
                          "videos_per_task", "overwrite", "max_policy_errors")  # fmt: skip


def fingerprint(config: EvalConfig, identity: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs' episodes comparable: the policy (its weights' and files' sha256 for a folder)
    and the whole configuration except which episodes run and where."""
    settings = {k: v for k, v in to_dict(config).items() if k not in UNFINGERPRINTED_FIELDS}
    policy = {k: v for k, v in identity.items() if k != "path"}  # a moved folder is the same policy
    return {"policy": policy, "config": settings}


def upgrade_fingerprint(old: dict[str, Any]) -> dict[str, Any]:
    """A fingerprint written before a setting existed, read as if it held that setting's default: every
    setting added to :class:`EvalConfig` defaults to the behaviour from before it (``init_states`` to the
    benchmark's states), so an older folder resumes instead of being refused."""
    if not isinstance(old.get("config"), dict):
        return old
    defaults = fingerprint(EvalConfig(), {})["config"]
    return {
        **old,
        "config": {**{k: v for k, v in defaults.items() if k not in old["config"]}, **old["config"]},
    }


def fingerprint_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += fingerprint_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} {a!r} there, {b!r} now")
    return out


INIT_STATES_DESCRIPTION = {
    "benchmark": "the benchmark's fixed initial state with index = episode",
    "random": "held-out random placements drawn by the benchmark's samplers (not its initial states): "
    f"placement seed crc32('{HELDOUT_SEED_KEY}')",
}


def build_results(
    config: EvalConfig,
    episodes: list[dict[str, Any]],
    identity: dict[str, Any] | None = None,
    eval_s: float = 0.0,
    episodes_run: int = 0,
) -> dict[str, Any]:
    summary = summarize(episodes)
    protocol = config.named_protocol
    max_steps = {suite: config.max_steps_for(suite) for suite in config.suites}
    standard = {suite: protocol.max_steps[suite] for suite in config.suites}
    executed: dict[str, int] = {}
    for row in episodes:
        for k, n in row.get("actions_per_chunk", {}).items():
            executed[k] = executed.get(k, 0) + n
    return {
        **summary,
        "protocol": {
            "name": protocol.name,
            "source": protocol.source,
            #: the named protocol's settings were changed (--max-steps, --actions-per-chunk)
            "modified": max_steps != standard or config.chunk_actions != protocol.actions_per_chunk,
            "suite": config.suite,
            "suites": list(config.suites),
            #: per suite
            "max_steps": max_steps,
            "standard_max_steps": standard,
            "shortened": max_steps != standard,
            "settle_steps": benchmark_for_suite(config.suites[0]).settle_steps,
            "init_states": INIT_STATES_DESCRIPTION[config.init_states],
            #: False with held-out random placements: not the benchmark's protocol
            "standard_init_states": config.init_states == "benchmark",
            **benchmark_for_suite(config.suites[0]).observation_notes,
            #: executed from each chunk before predicting again (None: the whole chunk)
            "actions_per_chunk": config.chunk_actions,
            "protocol_actions_per_chunk": protocol.actions_per_chunk,
            #: what was actually executed over all episodes: {actions from one chunk: number of chunks}
            "actions_per_chunk_executed": dict(sorted(executed.items(), key=lambda kv: int(kv[0]))),
            "cameras": sorted({c for row in episodes for c in row.get("cameras", [])}),
            "image_size": sorted({row["image_size"] for row in episodes if row.get("image_size")}),
        },
        "config": to_dict(config),
        "policy": identity or policy_identity(config.policy),
        "seeds": {
            "env": config.seed,
            "policy": config.seed,
            "episode_seed": "task_id * 1000 + episode",
            "reset_seed": f"{LEROBOT_START_SEED} + {config.seed} + episode (numpy, before each reset, as "
            "lerobot-eval: equal to its default --seed 1000 when seed is 0)"
            if config.init_states == "benchmark"
            else None,
            "placement_seed": INIT_STATES_DESCRIPTION["random"] if config.init_states == "random" else None,
        },
        "versions": package_versions(),
        "machine": machine_info(),
        "rendering": {  # MuJoCo's GL backend (egl on a headless machine, osmesa as a fallback)
            "mujoco_gl": os.environ.get("MUJOCO_GL"),
            "pyopengl_platform": os.environ.get("PYOPENGL_PLATFORM"),
        },
        # lerobot-eval's eval_info.json, key for key, so numbers and tools compare directly.
        "eval_info": lerobot_eval_info(episodes, config.output_dir, eval_s, episodes_run),
    }


def lerobot_eval_info(
    episodes: list[dict[str, Any]], output_dir: str, eval_s: float = 0.0, episodes_run: int = 0
) -> dict[str, Any]:
    """lerobot-eval's ``eval_info.json`` (``eval_policy_all``'s schema) from our episode rows.

    LIBERO's reward is sparse (1.0 on a step where the task is achieved) and an episode ends at its first
    success, so an episode's sum and max reward are 1.0 if it succeeded, else 0.0, as lerobot-eval's masked
    sums give. ``eval_s`` is this run's wall time and ``eval_ep_s`` that divided by the episodes it ran (a
    resumed run's earlier episodes are not timed again). Videos: their paths under ``output_dir``; we
    record no predicted videos.
    """

    def mean(values: list[float]) -> float | None:
        return float(np.mean(values)) if values else None  # lerobot writes NaN; we keep strict JSON

    def metrics(rows: list[dict[str, Any]]) -> dict[str, list]:
        return {
            "sum_rewards": [float(r["success"]) for r in rows],
            "max_rewards": [float(r["success"]) for r in rows],
            "successes": [bool(r["success"]) for r in rows],
            "video_paths": [str(Path(output_dir) / r["video"]) for r in rows if r.get("video")],
            "predicted_video_paths": [],
        }

    def aggregate(rows: list[dict[str, Any]], timing: dict[str, float] | None = None) -> dict[str, Any]:
        m = metrics(rows)
        success = mean([float(v) for v in m["successes"]])
        return {
            "avg_sum_reward": mean(m["sum_rewards"]),
            "avg_max_reward": mean(m["max_rewards"]),
            "pc_success": None if success is None else 100.0 * success,
            "n_episodes": len(rows),
            **(timing or {}),
            "video_paths": m["video_paths"],
            "predicted_video_paths": [],
        }

    tasks: dict[tuple[str, int], list] = {}
    groups: dict[str, list] = {}
    for row in episodes:
        tasks.setdefault((row["suite"], row["task_id"]), []).append(row)
        groups.setdefault(row["suite"], []).append(row)
    return {
        "per_task": [
            {"task_group": suite, "task_id": task_id, "metrics": metrics(rows)}
            for (suite, task_id), rows in tasks.items()
        ],
        "per_group": {suite: aggregate(rows) for suite, rows in groups.items()},
        "overall": aggregate(episodes, {"eval_s": eval_s, "eval_ep_s": eval_s / max(1, episodes_run)}),
    }


def plot_results(results: dict[str, Any], path: Path) -> None:
    """Bar chart of success per task and suite, with the 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["per_task"]) + [f"{s} (suite)" for s in results["per_suite"]] + ["overall"]
    blocks = list(results["per_task"].values()) + list(results["per_suite"].values()) + [results["overall"]]
    rates = np.array([100 * b["success_rate"] for b in blocks])
    lows = rates - np.array([100 * b["ci95"][0] for b in blocks])
    highs = np.array([100 * b["ci95"][1] for b in blocks]) - rates
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(names) + 2), 4))
    colors = ["tab:blue"] * len(results["per_task"]) + ["tab:orange"] * (
        len(names) - len(results["per_task"])
    )
    ax.bar(range(len(names)), rates, yerr=[lows, highs], color=colors, capsize=3)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("success rate (%)")
    title = (
        f"{results['protocol']['suite']}: {results['overall']['successes']}/{results['overall']['episodes']}"
    )
    if results["protocol"]["shortened"]:
        title += f" (episodes capped at {shortest_cap(results['protocol'])} steps)"
    if results["protocol"].get("standard_init_states") is False:
        title += " (held-out random placements)"
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_table(results: dict[str, Any], markdown: bool = False) -> str:
    """The success table of a ``results.json``: one row per task and per suite, then the overall rate.

    The same rows in two renderings: for the terminal (``vla eval``: fixed columns, each task's instruction,
    the overall 95% interval, error counts and protocol notes) or, with ``markdown``, for a model card (the
    note that the episodes were shortened included). Reads only what a results.json holds.
    """
    rows = [(key, t, t.get("instruction", "")) for key, t in results.get("per_task", {}).items()]
    rows += [(f"{suite} (suite)", s, None) for suite, s in results.get("per_suite", {}).items()]
    o, protocol = results.get("overall", {}), results.get("protocol", {})
    if markdown:
        lines = ["| task | success | episodes |", "|---|---|---|"]
        lines += [
            f"| {name} | {100 * block['success_rate']:.1f}% | {block['episodes']} |"
            for name, block, _ in rows
        ]
        if o:
            lines.append(f"| **overall** | **{100 * o['success_rate']:.1f}%** | {o['episodes']} |")
        if not_standard(protocol):
            lines.append(f"\nNot the standard protocol: {'; '.join(not_standard(protocol))}.")
        return "\n".join(lines)
    lines = [f"{'task':<18} {'success':>9} {'episodes':>9}  instruction"]
    for name, block, instruction in rows:
        line = f"{name:<18} {100 * block['success_rate']:>8.1f}% {block['episodes']:>9}"
        lines.append(line if instruction is None else f"{line}  {instruction}")
    lines.append(
        f"{'overall':<18} {100 * o['success_rate']:>8.1f}% {o['episodes']:>9}  95% CI "
        f"[{100 * o['ci95'][0]:.1f}, {100 * o['ci95'][1]:.1f}]"
    )
    if o["errors"] or o["invalid_chunks"] or o["simulator_retries"]:
        lines.append(
            f"policy errors: {o['policy_errors']}, simulator errors: {o['simulator_errors']} "
            f"(episodes retried after a simulator crash: {o['simulator_retries']}), "
            f"undecodable action chunks: {o['invalid_chunks']}"
        )
    if o.get("failures_by_gripper"):
        ends = ", ".join(f"{n} {end.replace('_', ' ')}" for end, n in o["failures_by_gripper"].items())
        lines.append(f"failures by the gripper's end state: {ends} (closed: shut on nothing, a missed grasp)")
    if protocol.get("name", DEFAULT_PROTOCOL) != DEFAULT_PROTOCOL:
        lines.append(f"protocol: {protocol['name']} ({protocol['source']})")
    lines += [f"note: {note}" for note in not_standard(protocol)]
    return "\n".join(lines)


def shortest_cap(protocol: dict[str, Any]) -> int:
    return min(protocol["max_steps"].values())


def not_standard(protocol: dict[str, Any]) -> list[str]:
    """How a run's episodes depart from the benchmark's protocol ([] for a standard run)."""
    notes = [describe_cap(protocol)] if protocol.get("shortened") else []
    if protocol.get("standard_init_states") is False:
        notes.append("episodes start from held-out random placements, not the benchmark's initial states")
    return notes


def describe_cap(protocol: dict[str, Any]) -> str:
    """'episodes capped at 8 steps (standard: libero_object 280)' for a shortened run's results."""
    standard = ", ".join(f"{suite} {steps}" for suite, steps in protocol["standard_max_steps"].items())
    return f"episodes capped at {shortest_cap(protocol)} steps (standard: {standard})"
