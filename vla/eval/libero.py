"""Roll a policy out in LIBERO with the standard protocol and report success per task, suite and overall.

Each episode starts from the benchmark's fixed initial state with the episode's index, settles with 10
no-op steps, and runs up to the suite's step limit (``PROTOCOL``) unless ``max_steps`` shortens it (the
result records that, so a shortened run is never mistaken for the standard one). Finished episodes are
appended to ``episodes.jsonl`` at once.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vla.config import check, check_choice, to_dict
from vla.sim.libero_env import PROTOCOL, SETTLE_STEPS, check_suite_task

VIDEO_MODES = ("none", "failures", "all")


@dataclass(frozen=True)
class EvalConfig:
    #: Checkpoint folder, Hub repo id, ``scripted``, ``expert`` or ``random``.
    policy: str = "scripted"
    suite: str = "libero_object"
    task_ids: tuple[int, ...] = (0,)
    episodes_per_task: int = 50
    #: Step limit per episode; ``None`` uses the suite's standard limit.
    max_steps: int | None = None
    #: Actions executed from each predicted chunk before predicting again (``None``: the whole chunk).
    actions_per_chunk: int | None = None
    video: str = "all"
    output_dir: str = "outputs/eval"
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("suite", self.suite, PROTOCOL)
        for task_id in self.task_ids:
            check_suite_task(self.suite, task_id)
        check(1 <= self.episodes_per_task <= 50, "episodes_per_task", self.episodes_per_task, "1..50")
        check(self.max_steps is None or self.max_steps >= 1, "max_steps", self.max_steps, "None or >= 1")
        check(
            self.actions_per_chunk is None or self.actions_per_chunk >= 1,
            "actions_per_chunk",
            self.actions_per_chunk,
            "None or >= 1",
        )
        check_choice("video", self.video, VIDEO_MODES)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a success rate (well-behaved at 0% and 100%)."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, center - half), min(1.0, center + half))


def summarize(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    def block(rows):
        n, s = len(rows), sum(r["success"] for r in rows)
        lo, hi = wilson_interval(s, n)
        return {"episodes": n, "successes": s, "success_rate": s / n if n else 0.0, "ci95": [lo, hi]}

    per_task: dict[str, Any] = {}
    for row in episodes:
        per_task.setdefault(f"{row['suite']}/{row['task_id']}", []).append(row)
    suites: dict[str, Any] = {}
    for row in episodes:
        suites.setdefault(row["suite"], []).append(row)
    return {
        "per_task": {
            key: {**block(rows), "instruction": rows[0]["instruction"]}
            for key, rows in sorted(per_task.items())
        },
        "per_suite": {suite: block(rows) for suite, rows in suites.items()},
        "overall": block(episodes),
    }


def _write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> None:
    import imageio.v2 as imageio

    with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1) as writer:
        for frame in frames:
            writer.append_data(frame)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("vla", "torch", "transformers", "lerobot", "hf-libero", "mujoco", "robosuite"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def evaluate(config: EvalConfig) -> dict[str, Any]:
    """Run the evaluation and write ``results.json``, ``episodes.jsonl`` and videos to ``output_dir``."""
    from tqdm.auto import tqdm

    from vla.eval.policies import load_rollout_policy
    from vla.sim.libero_env import LiberoEnv

    out = Path(config.output_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    episodes_file = out / "episodes.jsonl"
    episodes_file.unlink(missing_ok=True)
    policy = load_rollout_policy(config.policy, seed=config.seed)
    max_steps = config.max_steps or PROTOCOL[config.suite].max_steps
    rows: list[dict[str, Any]] = []
    bar = tqdm(
        total=len(config.task_ids) * config.episodes_per_task, desc=f"eval {config.suite}", unit="episode"
    )
    for task_id in config.task_ids:
        env = LiberoEnv(config.suite, task_id, seed=config.seed)
        try:
            for episode in range(config.episodes_per_task):
                started = time.perf_counter()
                obs = env.reset(episode)
                policy.reset()
                frames, queue, success, steps = [obs["image"]], [], False, 0
                while steps < max_steps and not success:
                    if not queue:
                        chunk = np.asarray(policy.act(env, obs), dtype=np.float64)
                        queue = list(chunk[: config.actions_per_chunk or len(chunk)])
                    obs, success = env.step(queue.pop(0))
                    frames.append(obs["image"])
                    steps += 1
                row = {
                    "suite": config.suite,
                    "task_id": task_id,
                    "episode": episode,
                    "instruction": env.instruction,
                    "success": bool(success),
                    "steps": steps,
                    "seconds": round(time.perf_counter() - started, 2),
                }
                if config.video == "all" or (config.video == "failures" and not success):
                    slug = env.instruction.replace(" ", "_")[:80]
                    name = f"{config.suite}_task{task_id}_ep{episode:02d}_{'success' if success else 'failure'}_{slug}.mp4"
                    _write_video(out / "videos" / name, frames)
                    row["video"] = f"videos/{name}"
                rows.append(row)
                with episodes_file.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                bar.set_postfix(success=f"{sum(r['success'] for r in rows)}/{len(rows)}")
                bar.update(1)
        finally:
            env.close()
    bar.close()
    summary = summarize(rows)
    results = {
        **summary,
        "protocol": {
            "suite": config.suite,
            "max_steps": max_steps,
            "standard_max_steps": PROTOCOL[config.suite].max_steps,
            "shortened": max_steps != PROTOCOL[config.suite].max_steps,
            "settle_steps": SETTLE_STEPS,
            "init_states": "benchmark fixed initial state with index = episode",
            "image_rotation_deg": 180,
            "actions_per_chunk": config.actions_per_chunk,
        },
        "config": to_dict(config),
        "policy": policy.name,
        "seeds": {"env": config.seed, "policy": config.seed},
        "versions": _versions(),
        # The fields of lerobot-eval's eval_info.json, so numbers compare directly.
        "eval_info": {
            "overall": {"pc_success": 100.0 * summary["overall"]["success_rate"], "n_episodes": len(rows)},
            "per_group": {
                suite: {"pc_success": 100.0 * s["success_rate"], "n_episodes": s["episodes"]}
                for suite, s in summary["per_suite"].items()
            },
            "per_task": [
                {
                    "task_group": key.split("/")[0],
                    "task_id": int(key.split("/")[1]),
                    "metrics": {"pc_success": 100.0 * t["success_rate"], "n_episodes": t["episodes"]},
                }
                for key, t in summary["per_task"].items()
            ],
        },
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return results


def format_table(results: dict[str, Any]) -> str:
    lines = [f"{'task':<18} {'success':>9} {'episodes':>9}  instruction"]
    for key, t in results["per_task"].items():
        lines.append(f"{key:<18} {100 * t['success_rate']:>8.1f}% {t['episodes']:>9}  {t['instruction']}")
    for suite, s in results["per_suite"].items():
        lines.append(f"{suite + ' (suite)':<18} {100 * s['success_rate']:>8.1f}% {s['episodes']:>9}")
    o = results["overall"]
    lines.append(
        f"{'overall':<18} {100 * o['success_rate']:>8.1f}% {o['episodes']:>9}  95% CI "
        f"[{100 * o['ci95'][0]:.1f}, {100 * o['ci95'][1]:.1f}]"
    )
    if results["protocol"]["shortened"]:
        lines.append(
            f"note: episodes capped at {results['protocol']['max_steps']} steps "
            f"(standard: {results['protocol']['standard_max_steps']})"
        )
    return "\n".join(lines)
