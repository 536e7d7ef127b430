"""Run (or resume) an evaluation: ``vla eval --policy CHECKPOINT --suite libero_object``.

Protocol: a named row of ``vla.envs.PROTOCOLS`` (``lerobot`` by default, or ``openpi``), recorded in
every result; each episode as ``vla.eval.rollout`` runs it.

Resumable and shardable: every finished episode is appended at once to ``episodes/rank-NN.jsonl``; a rerun
with the same output folder skips finished episodes; under ``accelerate launch`` each process takes a
disjoint block of the (suite, task, episode) triples and the main process merges all files into
``results.json``. Several suites in one run (``suite="libero_spatial,libero_object,..."``, lerobot's
convention) give one result with every suite's rate and the overall rate over all episodes.

Vectorized: with ``num_envs`` > 1 each process runs that many simulator worker processes and batches the
observations of all of them into one policy call (``vla.eval.vector``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from vla.config import ConfigError, check_output_folder
from vla.errors import UserError
from vla.eval.config import EvalConfig
from vla.eval.results import (
    EPISODES_DIR,
    FINGERPRINT_FILE,
    build_results,
    drop_partial_last_line,
    fingerprint,
    fingerprint_differences,
    plot_results,
    policy_identity,
    read_episodes,
    upgrade_fingerprint,
)
from vla.eval.rollout import EnvSlot, attempt_episode, rendering_for

#: At most this many simulator workers per process when ``num_envs`` is left to choose (see ``auto_num_envs``).
MAX_AUTO_ENVS = 8
#: What ``overwrite`` deletes from the output folder (nothing else in it is touched).
RUN_OUTPUTS = (EPISODES_DIR, "videos", "results.json", "results.png", "eval_info.json", FINGERPRINT_FILE)


class EvaluationStopped(RuntimeError, UserError):
    """The run stopped on purpose (too many policy errors in a row); the message says why and what next."""


def auto_num_envs() -> int:
    """One simulator worker per CPU core this process may use, shared among the processes of this machine.

    A LIBERO step is single-threaded CPU work (physics, and rendering too on a machine without a GPU), so
    one worker per core keeps every core busy while the main process mostly waits for observations; more
    workers than cores only add memory (each holds a full simulator). Capped at ``MAX_AUTO_ENVS``.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, min(MAX_AUTO_ENVS, cores // max(1, local_processes)))


def prepare_output(out: Path, config: EvalConfig, identity: dict[str, Any], state) -> None:
    """Start over (``overwrite``), or refuse to resume into a folder holding another evaluation's episodes.

    Every process checks the same file between two barriers; the main process alone deletes and writes.
    """
    import shutil

    from vla.config import ConfigError

    if config.overwrite and state.is_main_process:
        for name in RUN_OUTPUTS:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    state.wait_for_everyone()
    mine = fingerprint(config, identity)
    file = out / FINGERPRINT_FILE
    advice = "rerun with --overwrite to start over, or choose another --out"
    if file.is_file():
        try:
            theirs = upgrade_fingerprint(json.loads(file.read_text()))
        except json.JSONDecodeError:
            raise ConfigError(f"{file} is not valid JSON: cannot tell what ran there; {advice}") from None
        if theirs != mine:
            diff = "; ".join(fingerprint_differences(theirs, mine)[:4])
            raise ConfigError(f"{out} holds episodes of another evaluation ({diff}); {advice}")
    elif any((out / EPISODES_DIR).glob("rank-*.jsonl")):
        raise ConfigError(
            f"{out} holds episodes without a {FINGERPRINT_FILE}: cannot tell what ran there; {advice}"
        )
    state.wait_for_everyone()
    if state.is_main_process and not file.is_file():
        out.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(mine, indent=1))


def evaluate(config: EvalConfig) -> dict[str, Any]:
    """Run (or resume) the evaluation; on the main process write and return ``results.json``'s content."""
    from tqdm.auto import tqdm

    from vla.distributed import is_launch_rank_zero, process_state
    from vla.eval.policies import load_rollout_policy

    out = Path(config.output_dir)
    if is_launch_rank_zero():  # these two refuse a bad --out or --policy before accelerate loads
        check_output_folder("output_dir (--out)", out)
    identity = policy_identity(config.policy)
    state = process_state()
    prepare_output(out, config, identity, state)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / EPISODES_DIR).mkdir(parents=True, exist_ok=True)
    if state.is_main_process:
        for file in (out / EPISODES_DIR).glob("rank-*.jsonl"):
            drop_partial_last_line(file)
    state.wait_for_everyone()
    finished = {key: row for key, row in read_episodes(out).items() if not row.get("error")}
    todo = [key for key in config.episode_keys() if key not in finished]  # errors are run again
    lo, hi = (
        len(todo) * state.process_index // state.num_processes,
        len(todo) * (state.process_index + 1) // state.num_processes,
    )
    mine = todo[lo:hi]  # contiguous blocks: each process builds as few task environments as possible
    rank_file = out / EPISODES_DIR / f"rank-{state.process_index:02d}.jsonl"
    num_envs = min(config.num_envs or auto_num_envs(), len(mine))
    if num_envs > 1:
        from vla.eval.vector import start_fork_server

        start_fork_server()  # the simulator workers' imports overlap the policy's loading
    policy = (
        load_rollout_policy(config.policy, seed=config.seed, device=config.device, dtype=config.dtype)
        if mine
        else None
    )
    if policy is not None and config.action_samples > 1:
        if not hasattr(policy, "sample_actions"):
            raise ConfigError(
                f"action_samples={config.action_samples} (--action-samples) is invalid for {config.policy}: "
                "only vla checkpoints and ensembles of them draw action tokens; use 1"
            )
        policy.sample_actions(config.action_samples, config.sample_temperature, config.seed)
    bar = tqdm(
        total=len(mine), desc=f"eval {config.suite}", unit="episode", disable=not state.is_main_process
    )
    if finished and state.is_main_process:
        print(f"resuming: {len(finished)} episodes already in {out / EPISODES_DIR}, {len(todo)} to run")
    tally = {"successes": 0, "steps": 0, "policy_errors_in_a_row": 0}

    def record(row: dict[str, Any]) -> None:
        with rank_file.open("a") as f:
            f.write(json.dumps(row) + "\n")
        tally["successes"] += row["success"]
        tally["steps"] += row["steps"]
        bar.set_postfix(success=f"{tally['successes']}/{bar.n + 1}", envs=num_envs)
        bar.update(1)
        in_a_row = tally["policy_errors_in_a_row"] + 1 if row.get("error_kind") == "policy" else 0
        tally["policy_errors_in_a_row"] = in_a_row
        if in_a_row >= config.max_policy_errors:
            raise EvaluationStopped(
                f"stopped: {in_a_row} episodes in a row failed in the policy (last: {row['error_message']}); "
                f"tracebacks in {rank_file}; a rerun with the same --out retries them"
            )

    started = time.perf_counter()
    try:
        if num_envs > 1:
            from vla.eval.vector import run_vectorized

            run_vectorized(config, policy, mine, rendering_for(config, policy), num_envs, record)
        elif mine:
            slot = EnvSlot(config.seed, rendering_for(config, policy))
            try:
                for suite, task_id, episode in mine:
                    record(attempt_episode(slot, policy, config, suite, task_id, episode))
            finally:
                slot.close()
    finally:
        bar.close()
    this_run = {"process": state.process_index, "num_envs": num_envs, "episodes": len(mine),
                "env_steps": tally["steps"], "seconds": round(time.perf_counter() - started, 2),
                "policy_device": str(getattr(policy, "device", "cpu")),
                "policy_dtype": str(getattr(policy, "dtype", "")).removeprefix("torch.") or None}  # fmt: skip
    state.wait_for_everyone()
    if not state.is_main_process:
        return {}
    rows = read_episodes(out)
    episodes = [rows[key] for key in config.episode_keys() if key in rows]
    results = build_results(config, episodes, identity, this_run["seconds"], this_run["episodes"])
    results["this_run"] = this_run
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "eval_info.json").write_text(
        json.dumps(results["eval_info"], indent=2)
    )  # as lerobot-eval names it
    plot_results(results, out / "results.png")
    return results
