"""Roll a policy out in LIBERO with the standard protocol and report success per task, suite and overall.

Protocol (a named row of ``vla.envs.libero.protocol.PROTOCOLS``, ``lerobot`` by default or ``openpi``, recorded in
every result): each episode starts from the benchmark's fixed initial state with the episode's index (numpy
seeded before the reset, ``reset_seed``), settles with 10 no-op steps, and runs up to the protocol's step
limit for the suite unless ``max_steps`` shortens it (the result says so). Images are rotated 180 degrees
and the state built exactly as in the datasets (``LiberoEnv``); the policy executes the protocol's (or
``actions_per_chunk``) actions of each predicted chunk, and each row counts what it executed.

Resumable and shardable: every finished episode is appended at once to ``episodes/rank-NN.jsonl``; a rerun
with the same output folder skips finished episodes; under ``accelerate launch`` each process takes a
disjoint block of the (suite, task, episode) triples and the main process merges all files into
``results.json``. Several suites in one run (``suite="libero_spatial,libero_object,..."``, lerobot's
convention) give one result with every suite's rate and the overall rate over all episodes.

Vectorized: with ``num_envs`` > 1 each process runs that many simulator worker processes and batches the
observations of all of them into one policy call (``vla.eval.vector``). Only the cameras the policy reads
(plus the agent view when videos are on) are rendered.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vla.config import check, check_choice, check_output_folder, to_dict
from vla.envs import PROTOCOLS, EvalProtocol, check_suite_task, task_instruction
from vla.envs import SUITES as PROTOCOL
from vla.envs.libero.env import ACTION_DIM
from vla.envs.libero.protocol import DEFAULT_PROTOCOL, SETTLE_STEPS
from vla.envs.rollout import rollout
from vla.eval.policies import INFERENCE_DTYPES
from vla.versions import package_versions

VIDEO_MODES = ("none", "failures", "first", "all")
EPISODES_DIR = "episodes"
#: Side of the rendered images when only the video needs a camera (the public datasets' size).
VIDEO_SIZE = 256
#: At most this many simulator workers per process when ``num_envs`` is left to choose (see ``auto_num_envs``).
MAX_AUTO_ENVS = 8
#: lerobot-eval's default ``--seed``; it seeds numpy before episode i's reset with ``seed + i``.
LEROBOT_START_SEED = 1000


@dataclass(frozen=True)
class EvalConfig:
    #: Checkpoint folder, Hub repo id, ``scripted``, ``expert`` or ``random``.
    policy: str = "scripted"
    #: A suite, or several separated by commas (``libero_spatial,libero_object,libero_goal,libero_10``).
    suite: str = "libero_object"
    #: Task ids of each suite; empty (the default, the standard protocol) means all of them.
    task_ids: tuple[int, ...] = ()
    episodes_per_task: int = 50
    #: Step limit per episode; ``None`` uses each suite's limit in ``protocol``.
    max_steps: int | None = None
    #: Actions executed from each predicted chunk before predicting again (``None``: what ``protocol`` says).
    actions_per_chunk: int | None = None
    #: A named protocol of ``vla.envs.libero.protocol.PROTOCOLS``: ``lerobot`` (default) or ``openpi``.
    protocol: str = DEFAULT_PROTOCOL
    #: ``none``, ``failures``, ``first`` (the first ``videos_per_task`` episodes of each task) or ``all``.
    video: str = "failures"
    videos_per_task: int = 1
    output_dir: str = "outputs/eval"
    seed: int = 0
    #: Simulator worker processes per evaluation process; ``None``: one per CPU core (``auto_num_envs``).
    #: 1 runs the simulator in this process.
    num_envs: int | None = None
    #: Side in pixels of the rendered images; ``None``: the size the policy reads (256 for video only).
    image_size: int | None = None
    #: Where a learned policy runs: ``auto`` (this process's GPU under accelerate, else the CPU), ``cpu``,
    #: ``cuda`` or ``cuda:N``.
    device: str = "auto"
    #: Weights of our checkpoints: ``auto`` (bfloat16 on a GPU that supports it, else float32), ``float32``,
    #: ``bfloat16`` or ``float16``.
    dtype: str = "auto"
    #: Start over in ``output_dir`` (its episodes, results and videos are deleted) instead of resuming.
    overwrite: bool = False
    #: Stop the run after this many episodes in a row ended in an error raised by the policy.
    max_policy_errors: int = 5

    def __post_init__(self) -> None:
        check_choice("protocol", self.protocol, PROTOCOLS)
        for suite in self.suites:
            check_choice("suite", suite, PROTOCOL)
            for task_id in self.task_ids:
                check_suite_task(suite, task_id)
        check(len(set(self.suites)) == len(self.suites), "suite", self.suite, "each suite at most once")
        check(1 <= self.episodes_per_task <= 50, "episodes_per_task", self.episodes_per_task, "1..50")
        check(self.max_steps is None or self.max_steps >= 1, "max_steps", self.max_steps, "None or >= 1")
        check(
            self.actions_per_chunk is None or self.actions_per_chunk >= 1,
            "actions_per_chunk",
            self.actions_per_chunk,
            "None or >= 1",
        )
        check_choice("video", self.video, VIDEO_MODES)
        check(self.videos_per_task >= 0, "videos_per_task", self.videos_per_task, "must be >= 0")
        check(self.num_envs is None or self.num_envs >= 1, "num_envs", self.num_envs, "None or >= 1")
        check(self.image_size is None or self.image_size >= 8, "image_size", self.image_size, "None or >= 8")
        check(
            re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device) is not None,
            "device",
            self.device,
            "auto, cpu, cuda or cuda:N",
        )
        check_choice("dtype", self.dtype, INFERENCE_DTYPES)
        check(self.max_policy_errors >= 1, "max_policy_errors", self.max_policy_errors, "must be >= 1")

    @property
    def suites(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.suite.split(","))

    def tasks(self, suite: str) -> tuple[int, ...]:
        return self.task_ids or tuple(range(PROTOCOL[suite].n_tasks))

    @property
    def named_protocol(self) -> EvalProtocol:
        return PROTOCOLS[self.protocol]

    def max_steps_for(self, suite: str) -> int:
        return self.max_steps or self.named_protocol.max_steps[suite]

    @property
    def chunk_actions(self) -> int | None:
        """Actions executed from each chunk before predicting again (``None``: the whole chunk)."""
        return self.actions_per_chunk or self.named_protocol.actions_per_chunk

    def episode_keys(self) -> list[tuple[str, int, int]]:
        """(suite, task, episode) in the order they run: suite by suite, task by task."""
        return [
            (suite, task, episode)
            for suite in self.suites
            for task in self.tasks(suite)
            for episode in range(self.episodes_per_task)
        ]


class PolicyError(RuntimeError):
    """The policy raised or returned an unusable chunk (not the simulator): the episode is recorded as a
    policy error without a retry, and ``max_policy_errors`` of them in a row stop the run."""


class EvaluationStopped(RuntimeError):
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


@dataclass(frozen=True)
class Rendering:
    """What the simulator renders: the observation images the policy reads (and the video needs)."""

    cameras: tuple[str, ...]
    image_size: int


def rendering_for(config: EvalConfig, policy) -> Rendering:
    cameras = list(policy.cameras)
    if config.video != "none" and "image" not in cameras:
        cameras.append("image")  # the videos show the agent view
    size = config.image_size or (policy.image_size if policy.cameras else None) or VIDEO_SIZE
    return Rendering(tuple(cameras), size)


class EnvSlot:
    """The simulator for the task at hand: built on first use and for each new task, rebuilt after an error."""

    def __init__(self, seed: int, rendering: Rendering) -> None:
        self.seed, self.rendering = seed, rendering
        self.env, self.task = None, None

    def get(self, suite: str, task_id: int):
        from vla.envs.libero.env import LiberoEnv

        if self.env is not None and self.task != (suite, task_id):
            self.close()
        if self.env is None:
            r = self.rendering
            self.env = LiberoEnv(suite, task_id, r.image_size, self.seed, cameras=r.cameras)
            self.task = (suite, task_id)
        return self.env

    def close(self) -> None:
        env, self.env = self.env, None
        if env is not None:
            try:
                env.close()
            except Exception:  # noqa: BLE001 - a simulator that just failed may fail to close as well
                pass


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


def _write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> None:
    import imageio.v2 as imageio

    with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1) as writer:
        for frame in frames:
            writer.append_data(frame)


def policy_identity(spec: str) -> dict[str, Any]:
    """What was evaluated: the spec and, for a checkpoint folder or Hub id, its resolved path, the Hub
    revision (commit) it was read at, and the weights' sha256."""
    from vla.eval.policies import LEROBOT_PREFIX
    from vla.hub import file_sha256, resolve_pretrained

    identity: dict[str, Any] = {"spec": spec}
    name = spec.removeprefix(LEROBOT_PREFIX)
    folder = Path(name)
    if not folder.exists() and name.count("/") == 1 and ":" not in name:
        folder = resolve_pretrained(name, kind="policy")  # the cached snapshot, or a download
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


FINGERPRINT_FILE = "fingerprint.json"
#: Fields that choose which episodes run, on how many workers, what is filmed, or how the run behaves:
#: they may change between a run and its resume. Every other field can change an episode's row.
#: ``policy`` is fingerprinted through its identity (weights' sha256 for a folder, whatever its path).
UNFINGERPRINTED_FIELDS = ("policy", "suite", "task_ids", "episodes_per_task", "output_dir", "num_envs", "video",
                          "videos_per_task", "overwrite", "max_policy_errors")  # fmt: skip
#: What ``overwrite`` deletes from the output folder (nothing else in it is touched).
RUN_OUTPUTS = (EPISODES_DIR, "videos", "results.json", "results.png", "eval_info.json", FINGERPRINT_FILE)


def fingerprint(config: EvalConfig, identity: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs' episodes comparable: the policy (its weights' and files' sha256 for a folder)
    and the whole configuration except which episodes run and where."""
    settings = {k: v for k, v in to_dict(config).items() if k not in UNFINGERPRINTED_FIELDS}
    policy = {k: v for k, v in identity.items() if k != "path"}  # a moved folder is the same policy
    return {"policy": policy, "config": settings}


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} {a!r} there, {b!r} now")
    return out


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
            theirs = json.loads(file.read_text())
        except json.JSONDecodeError:
            raise ConfigError(f"{file} is not valid JSON: cannot tell what ran there; {advice}") from None
        if theirs != mine:
            diff = "; ".join(_differences(theirs, mine)[:4])
            raise ConfigError(f"{out} holds episodes of another evaluation ({diff}); {advice}")
    elif any((out / EPISODES_DIR).glob("rank-*.jsonl")):
        raise ConfigError(
            f"{out} holds episodes without a {FINGERPRINT_FILE}: cannot tell what ran there; {advice}"
        )
    state.wait_for_everyone()
    if state.is_main_process and not file.is_file():
        out.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(mine, indent=1))


def reset_seed(seed: int, suite: str, task_id: int, episode: int) -> int:
    """numpy's global seed before the reset of (suite, task, episode): LIBERO draws the fixtures' placement
    from it, so an episode's scene never depends on the worker, shard or resume that runs it.

    As lerobot-eval does (each task's episode i reset with ``--seed + i``, default 1000): with ``seed`` 0
    an episode's fixtures are exactly lerobot-eval's. Suite and task need no term of their own: each
    (suite, task) is a different scene, drawn by its own environment.
    """
    del suite, task_id  # the same numbers as lerobot-eval for every task
    return LEROBOT_START_SEED + seed + episode


def scene_digest(env) -> str:
    """A short hash of every body's placement in the model (fixtures included): equal scenes, equal digests."""
    return hashlib.sha256(np.ascontiguousarray(env._env.sim.model.body_pos).tobytes()).hexdigest()[:16]


def _may_film(config: EvalConfig, episode: int) -> bool:
    """Whether this episode's video may be written (known before it runs unless it depends on success)."""
    return config.video in ("all", "failures") or (
        config.video == "first" and episode < config.videos_per_task
    )


def _wants_video(config: EvalConfig, episode: int, success: bool) -> bool:
    return (
        config.video == "all"
        or (config.video == "failures" and not success)
        or (config.video == "first" and episode < config.videos_per_task)
    )


def run_episode(
    env, policy, config: EvalConfig, task_id: int, episode: int, max_steps: int
) -> dict[str, Any]:
    """Roll one episode out. The policy's images are rendered only on the steps where it is asked for a
    chunk, the agent view on every step only when this episode may become a video."""
    started = time.perf_counter()
    filmed = "image" in env.cameras and _may_film(config, episode)
    seed = reset_seed(config.seed, env.suite, task_id, episode)
    obs = env.reset(episode, seed=seed)
    scene = scene_digest(env)
    with _blame_policy():
        policy.reset(episode_seed=task_id * 1000 + episode)
    frames = [obs["image"]] if filmed else None
    queue: list[np.ndarray] = []
    executed: list[int] = []  # actions executed from each chunk (the last one may be cut by the limit)

    def act(obs):
        if not queue:
            chunk = _next_chunk(policy, env, obs)
            queue.extend(chunk[: config.chunk_actions or len(chunk)])
            executed.append(0)
        executed[-1] += 1
        return queue.pop(0)

    def cameras():  # the next observation is read by the policy only if the queue is now empty
        return env.cameras if not queue else ("image",) if filmed else ()

    def film(_obs, _action, following):
        if frames is not None:
            frames.append(following["image"])

    result = rollout(env, obs, act, max_steps, cameras=cameras, on_step=film)
    obs, success, steps = result.observation, result.success, result.steps
    row = {
        "suite": env.suite,
        "task_id": task_id,
        "episode": episode,
        "instruction": env.instruction,
        "success": bool(success),
        "steps": steps,
        "reset_seed": seed,
        "scene": scene,
        "chunks": len(executed),
        #: how many chunks had k actions executed, {k: count}
        "actions_per_chunk": {str(k): executed.count(k) for k in sorted(set(executed))},
        "invalid_chunks": int(getattr(policy, "invalid_chunks", 0)),
        "final_state": [round(float(v), 6) for v in obs["state"]],
        "cameras": list(env.cameras),
        "image_size": env.image_size if env.cameras else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if frames is not None and _wants_video(config, episode, success):
        slug = "".join(c if c.isalnum() else "_" for c in env.instruction)[:80]
        outcome = "success" if success else "failure"
        name = f"{env.suite}_task{task_id}_ep{episode:02d}_{outcome}_{slug}.mp4"
        _write_video(Path(config.output_dir) / "videos" / name, frames)
        row["video"] = f"videos/{name}"
    return row


@contextmanager
def _blame_policy():
    """Whatever the policy raises in this block is a PolicyError (the simulator is not at fault)."""
    try:
        yield
    except PolicyError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the policy raised, it is the policy's failure
        raise PolicyError(f"{type(err).__name__}: {err}") from err


def _next_chunk(policy, env, obs) -> np.ndarray:
    with _blame_policy():
        chunk = np.asarray(policy.act(env, obs), dtype=np.float64)
    if chunk.ndim != 2 or chunk.shape[0] < 1 or chunk.shape[1] != ACTION_DIM or not np.isfinite(chunk).all():
        raise PolicyError(
            f"the policy returned a chunk of shape {chunk.shape}; expected (n >= 1, {ACTION_DIM}), finite"
        )
    return chunk


def attempt_episode(
    slot: EnvSlot, policy, config: EvalConfig, suite: str, task_id: int, episode: int
) -> dict[str, Any]:
    """One episode's row. A simulator error gets one retry in a fresh environment; a policy error none
    (the same policy would fail the same way, and a retry would hide it)."""
    errors = []
    for _attempt in range(2):
        try:
            env = slot.get(suite, task_id)
            row = run_episode(env, policy, config, task_id, episode, config.max_steps_for(suite))
            break
        except PolicyError:
            errors.append(traceback.format_exc())
            row = error_row(suite, task_id, episode, errors[-1], "policy")
            break
        except Exception:  # noqa: BLE001 - any simulator failure is recorded, not fatal
            errors.append(traceback.format_exc())
            slot.close()
    else:
        row = error_row(suite, task_id, episode, errors[-1], "simulator")
    if errors:
        row["errors"] = errors
        row["simulator_retries"] = len(errors) - (1 if row.get("error") else 0)
    return row


def error_row(suite: str, task_id: int, episode: int, error: str, kind: str) -> dict[str, Any]:
    """The row of an episode that ended in an error; ``kind``: ``policy`` or ``simulator``."""
    message = next((line for line in reversed(error.strip().splitlines()) if line.strip()), "")
    return {"suite": suite, "task_id": task_id, "episode": episode, "success": False, "steps": 0,
            "instruction": task_instruction(suite, task_id), "error": error, "error_kind": kind,
            "error_message": message.strip()}  # fmt: skip


def evaluate(config: EvalConfig) -> dict[str, Any]:
    """Run (or resume) the evaluation; on the main process write and return ``results.json``'s content."""
    from tqdm.auto import tqdm

    from vla.distributed import process_state
    from vla.eval.policies import load_rollout_policy

    state = process_state()
    out = Path(config.output_dir)
    if state.is_main_process:
        check_output_folder("output_dir (--out)", out)
    identity = policy_identity(config.policy)
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
            "settle_steps": SETTLE_STEPS,
            "init_states": "the benchmark's fixed initial state with index = episode",
            "image_rotation_deg": 180,
            "state": "eef position (3) + axis-angle (3) + gripper qpos (2)",
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
            "lerobot-eval: equal to its default --seed 1000 when seed is 0)",
        },
        "versions": package_versions(),
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
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


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
    if o["errors"] or o["invalid_chunks"] or o["simulator_retries"]:
        lines.append(
            f"policy errors: {o['policy_errors']}, simulator errors: {o['simulator_errors']} "
            f"(episodes retried after a simulator crash: {o['simulator_retries']}), "
            f"undecodable action chunks: {o['invalid_chunks']}"
        )
    if results["protocol"].get("name", DEFAULT_PROTOCOL) != DEFAULT_PROTOCOL:
        lines.append(f"protocol: {results['protocol']['name']} ({results['protocol']['source']})")
    if results["protocol"]["shortened"]:
        lines.append(f"note: {describe_cap(results['protocol'])}")
    return "\n".join(lines)


def shortest_cap(protocol: dict[str, Any]) -> int:
    return min(protocol["max_steps"].values())


def describe_cap(protocol: dict[str, Any]) -> str:
    """'episodes capped at 8 steps (standard: libero_object 280)' for a shortened run's results."""
    standard = ", ".join(f"{suite} {steps}" for suite, steps in protocol["standard_max_steps"].items())
    return f"episodes capped at {shortest_cap(protocol)} steps (standard: {standard})"
