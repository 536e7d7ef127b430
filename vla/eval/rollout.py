"""One episode in the simulator, with the standard protocol, as a row of the results.

Each episode starts from the benchmark's fixed initial state with the episode's index (numpy seeded before
the reset, ``reset_seed``) or, with ``init_states="random"``, from a held-out random placement
(``heldout_placement_seed``: never an evaluation state, never a recorded demonstration's), settles with 10 no-op steps, and runs up to the protocol's step limit for the
suite unless ``max_steps`` shortens it. Images are rotated 180 degrees and the state built exactly as in the
datasets (``LiberoEnv``); the policy executes the protocol's (or ``actions_per_chunk``) actions of each
predicted chunk, and each row counts what it executed. Only the cameras the policy reads (plus the agent
view when the episode may become a video) are rendered.

A simulator error gets one retry in a fresh environment (``attempt_episode``); a policy error none.
"""

from __future__ import annotations

import hashlib
import time
import traceback
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vla.envs import benchmark_for_suite, task_instruction
from vla.envs.rollout import reset_episode, rollout
from vla.eval.config import EvalConfig

#: Side of the rendered images when only the video needs a camera (the public datasets' size).
VIDEO_SIZE = 256
#: lerobot-eval's default ``--seed``; it seeds numpy before episode i's reset with ``seed + i``.
LEROBOT_START_SEED = 1000


class PolicyError(RuntimeError):
    """The policy raised or returned an unusable chunk (not the simulator): the episode is recorded as a
    policy error without a retry, and ``max_policy_errors`` of them in a row stop the run."""


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
        if self.env is not None and self.task != (suite, task_id):
            self.close()
        if self.env is None:
            r = self.rendering
            benchmark = benchmark_for_suite(suite)
            self.env = benchmark.make_env(
                suite, task_id, image_size=r.image_size, seed=self.seed, cameras=r.cameras
            )
            self.task = (suite, task_id)
        return self.env

    def close(self) -> None:
        env, self.env = self.env, None
        if env is not None:
            try:
                env.close()
            except Exception:  # noqa: BLE001 - a simulator that just failed may fail to close as well
                pass


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
    return hashlib.sha256(np.ascontiguousarray(env.sim.model.body_pos).tobytes()).hexdigest()[:16]


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


#: crc32 of this string is a held-out episode's placement seed (results.json names it as its formula).
HELDOUT_SEED_KEY = "vla-eval-heldout/{seed}/{suite}/{task_id}/{episode}"


def heldout_placement_seed(seed: int, suite: str, task_id: int, episode: int) -> int:
    """The placement seed of a held-out episode (``init_states="random"``): a pure function of the run's
    seed and the episode, in a namespace of its own, so it is never the seed of a demonstration that
    ``vla data generate`` records (``vla.data.record.placement_seed``)."""
    key = HELDOUT_SEED_KEY.format(seed=seed, suite=suite, task_id=task_id, episode=episode)
    return zlib.crc32(key.encode())


def run_episode(
    env, policy, config: EvalConfig, task_id: int, episode: int, max_steps: int
) -> dict[str, Any]:
    """Roll one episode out. The policy's images are rendered only on the steps where it is asked for a
    chunk, the agent view on every step only when this episode may become a video."""
    started = time.perf_counter()
    filmed = "image" in env.cameras and _may_film(config, episode)
    start: dict[str, Any]
    if config.init_states == "random":
        seed = heldout_placement_seed(config.seed, env.suite, task_id, episode)
        obs = reset_episode(env, placement_seed=seed)
        start = {"placement_seed": seed, "distance_to_benchmark_states": env.distance_to_benchmark_states()}
    else:
        seed = reset_seed(config.seed, env.suite, task_id, episode)
        obs = env.reset(episode, seed=seed)
        start = {"reset_seed": seed}
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
        **start,
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
    action_dim = env.benchmark.action.dim
    with _blame_policy():
        chunk = np.asarray(policy.act(env, obs), dtype=np.float64)
    if chunk.ndim != 2 or chunk.shape[0] < 1 or chunk.shape[1] != action_dim or not np.isfinite(chunk).all():
        raise PolicyError(
            f"the policy returned a chunk of shape {chunk.shape}; expected (n >= 1, {action_dim}), finite"
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


def _write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> None:
    import imageio.v2 as imageio

    with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1) as writer:
        for frame in frames:
            writer.append_data(frame)
