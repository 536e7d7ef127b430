"""Generate demonstrations of a benchmark's tasks (LIBERO by default) in the real simulator and save them as
a LeRobotDataset in the benchmark's schema (for LIBERO the public datasets').

Resumable and parallel: every episode is first rolled out by a worker process and staged as one
compressed ``.npz`` next to the output folder (``<out>.staging/``), written to a temporary name and
renamed, so a file there is always a whole episode. A rerun skips staged episodes, so ``kill -9`` loses
only the episodes in flight. Once all are staged, the dataset is built in ``<out>.building/`` in a fixed
(suite, task, episode) order and renamed to ``<out>``: the result does not depend on the number of workers
or on interruptions, and a half-built dataset never sits at ``<out>``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vla._logging import library_progress_bars_off, quiet_known_noise
from vla.config import ConfigError, check, check_choice, check_output_folder
from vla.envs import SUITES, benchmark_for_suite, check_suite_task, get_benchmark
from vla.envs.rollout import reset_episode, rollout

quiet_known_noise()
logger = logging.getLogger(__name__)

CONTROLLERS = ("expert", "reach")
#: Where an episode starts: a fresh random placement (``random``, the default: never an evaluation state)
#: or the benchmark's fixed initial state with the episode's index (``benchmark``: the states evaluation
#: uses, so a policy trained on them is tested on its training scenes).
INIT_STATES = ("random", "benchmark")
IMAGE_SIZE = 256
#: Episodes of one task recorded back to back (one simulator) before moving to the next task.
EPISODES_PER_ROUND = 5
GENERATION_FILE = "vla_generation.json"
#: A random placement closer than this (max-abs over simulator positions) to an evaluation state is refused.
MIN_DISTANCE_TO_EVAL_STATES = 1e-3


#: Frame rate of recorded LIBERO datasets (the benchmark's ``fps``).
FPS = get_benchmark("libero").fps


def libero_features(image_size: int = IMAGE_SIZE, images: bool = True) -> dict[str, dict[str, Any]]:
    """The feature schema of the public LIBERO LeRobot datasets (physical-intelligence/libero layout):
    ``LiberoBenchmark.features``. Without ``images``, state and actions only (an action corpus for
    tokenizers: nothing is rendered)."""
    return get_benchmark("libero").features(image_size, images)


LIBERO_FEATURES = libero_features()


def placement_seed(suite: str, task_id: int, episode: int) -> int:
    """The seed of a demonstration's random placement: a pure function of (suite, task, episode)."""
    return zlib.crc32(f"vla-generate/{suite}/{task_id}/{episode}".encode())


@dataclass(frozen=True)
class RecordSettings:
    """How each episode is recorded (a resumed run must use the same)."""

    controller: str = "expert"
    max_steps: int | None = None
    keep_failed: bool = True
    init_states: str = "random"
    image_size: int = IMAGE_SIZE
    #: Std of Gaussian noise added to the executed motion (not the recorded action, not the gripper):
    #: the closed-loop expert corrects it, so the data shows recoveries (DART). 0 = none.
    action_noise: float = 0.0
    #: Render and record the two cameras; False records state and actions only (physics alone: ~5x faster).
    images: bool = True


@dataclass(frozen=True)
class EpisodeJob:
    suite: str
    task_id: int
    episode: int

    @property
    def name(self) -> str:
        return f"{self.suite}/task-{self.task_id:02d}/episode-{self.episode:03d}.npz"


def _make_controller(name: str, env):
    benchmark = benchmark_for_suite(env.suite)
    controller = benchmark.make_expert() if name == "expert" else benchmark.make_scripted()
    if controller is None:
        raise ConfigError(
            f"controller={name!r} is invalid: benchmark {benchmark.name!r} has no {name} controller"
        )
    controller.reset(env)
    return controller


# One simulator per worker process, reused while the worker records episodes of the same task.
_WORKER_ENV: dict[str, Any] = {}


def _worker_env(suite: str, task_id: int, image_size: int = IMAGE_SIZE, images: bool = True):
    key = (suite, task_id, image_size, images)
    if _WORKER_ENV.get("key") != key:
        if "env" in _WORKER_ENV:
            _WORKER_ENV["env"].close()
        benchmark = benchmark_for_suite(suite)
        cameras = tuple(benchmark.cameras) if images else ()
        _WORKER_ENV.update(
            key=key, env=benchmark.make_env(suite, task_id, image_size=image_size, cameras=cameras)
        )
    return _WORKER_ENV["env"]


def record_episode(job: EpisodeJob, staging: Path, settings: RecordSettings) -> dict[str, Any]:
    """Roll one episode out and stage it atomically; returns its outcome. Failed episodes are staged
    without frames unless ``settings.keep_failed`` (so a rerun does not roll them out again)."""
    env = _worker_env(job.suite, job.task_id, settings.image_size, settings.images)
    benchmark = benchmark_for_suite(job.suite)
    seed = placement_seed(job.suite, job.task_id, job.episode)
    if settings.init_states == "random":
        obs = reset_episode(env, placement_seed=seed)
    else:
        obs = reset_episode(env, episode=job.episode % env.n_init_states)
    distance = env.distance_to_benchmark_states()
    if settings.init_states == "random" and distance < MIN_DISTANCE_TO_EVAL_STATES:
        raise RuntimeError(
            f"{job.name}: random placement {seed} lies {distance:.2g} from an evaluation initial state"
        )
    noise = np.random.default_rng(seed)
    policy = _make_controller(settings.controller, env)
    features = benchmark.features(settings.image_size, settings.images)
    frames: dict[str, list[np.ndarray]] = {key: [] for key in features}
    observed = [key for key in features if key != "actions"]
    motion = benchmark.action.motion_dims

    def act(_obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(policy.act(env), dtype=np.float32)

    def execute(action: np.ndarray) -> np.ndarray:
        executed = action.copy()
        if settings.action_noise > 0:  # on the motion, not the gripper; the recorded action stays clean
            executed[motion] += noise.normal(0.0, settings.action_noise, len(motion)).astype(np.float32)
        return executed

    def record(obs: dict[str, np.ndarray], action: np.ndarray, _next: dict[str, np.ndarray]) -> None:
        for key in observed:
            frames[key].append(obs[key])
        frames["actions"].append(action)

    limit = settings.max_steps or benchmark.suites[job.suite].max_steps
    result = rollout(env, obs, act, limit, execute=execute, on_step=record)
    success, steps = result.success, result.steps
    keep = success or settings.keep_failed
    arrays = {
        key: np.stack(values) if keep else np.zeros((0, *features[key]["shape"]), np.float32)
        for key, values in frames.items()
    }
    target = staging / job.name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(
            f,
            **{k: v.astype(np.uint8 if "image" in k else np.float32) for k, v in arrays.items()},
            success=np.asarray(success),
            kept=np.asarray(keep),
            steps=np.asarray(steps),
            instruction=np.asarray(env.instruction),
            seed=np.asarray(seed),
            distance_to_eval_states=np.asarray(distance),
        )
    os.replace(tmp, target)  # atomic: a staged file is always a whole episode
    return _staged_outcome(target, job)


def _job_fields(job: EpisodeJob) -> dict[str, Any]:
    return {"suite": job.suite, "task_id": job.task_id, "episode": job.episode}


def _staged_outcome(path: Path, job: EpisodeJob) -> dict[str, Any]:
    with np.load(path) as data:
        return {
            **_job_fields(job),
            "success": bool(data["success"]),
            "kept": bool(data["kept"]),
            "steps": int(data["steps"]),
            "placement_seed": int(data["seed"]),
            "distance_to_eval_states": round(float(data["distance_to_eval_states"]), 6),
        }


def _init_worker() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    quiet_known_noise()


def generate_episodes(
    out: str | Path,
    suites: Sequence[str] = ("libero_object",),
    task_ids: Sequence[int] | None = None,
    episodes_per_task: int = 2,
    max_steps: int | None = None,
    workers: int = 1,
    controller: str = "expert",
    successful_only: bool = False,
    overwrite: bool = False,
    repo_id: str | None = None,
    init_states: str = "random",
    image_size: int = IMAGE_SIZE,
    action_noise: float = 0.0,
    images: bool = True,
) -> Path:
    """Record ``episodes_per_task`` episodes of each task of each suite into the LeRobotDataset ``out``.

    Episode ``e`` of a task starts from a random placement seeded by :func:`placement_seed` (``init_states``
    ``random``, the default; never one of the benchmark's evaluation states, checked per episode) or from
    the benchmark's initial state ``e`` modulo 50 (``benchmark``), settles with 10 no-op steps and records up to ``max_steps`` frames (default: the suite's standard limit),
    stopping when the task succeeds. ``task_ids`` ``None`` takes every task of each suite. ``controller`` is
    ``expert`` (the benchmark's privileged expert, :mod:`vla.envs.libero.expert`) or ``reach`` (reach, grasp, lift; never places). With
    ``successful_only`` failed episodes are left out. ``workers`` simulator processes record in parallel.
    ``image_size``: camera resolution (record at the size the model reads: rendering dominates CPU time).
    ``action_noise``: DART-style noise on the executed motion (see :class:`RecordSettings`).
    ``images=False`` renders nothing and records state and actions only: an action corpus for fitting
    tokenizers, several times faster.
    A rerun with the same arguments resumes; ``overwrite`` starts again from nothing.
    """
    from tqdm.auto import tqdm

    check_choice("controller", controller, CONTROLLERS)
    check(len(suites) >= 1, "suites", suites, "at least one suite")
    for suite in suites:
        check_choice("suite", suite, SUITES)
        for task_id in task_ids or ():
            check_suite_task(suite, task_id)
    benchmark = benchmark_for_suite(suites[0])
    others = sorted({benchmark_for_suite(suite).name for suite in suites} - {benchmark.name})
    check(
        not others,
        "suites",
        suites,
        f"suites of one benchmark (one dataset schema), not {benchmark.name} and {others}",
    )
    check(episodes_per_task >= 1, "episodes_per_task", episodes_per_task, "must be >= 1")
    check(max_steps is None or max_steps >= 1, "max_steps", max_steps, "None or >= 1")
    check(workers >= 1, "workers", workers, "must be >= 1")
    check_choice("init_states", init_states, INIT_STATES)
    check(16 <= image_size <= 1024, "image_size", image_size, "16..1024 pixels")
    check(0.0 <= action_noise <= 1.0, "action_noise", action_noise, "0..1 (std of the executed motion noise)")
    check_output_folder("out", Path(out).parent)
    record = RecordSettings(
        controller, max_steps, not successful_only, init_states, image_size, action_noise, images
    )
    out = Path(out)
    staging, building = out.with_name(out.name + ".staging"), out.with_name(out.name + ".building")
    if overwrite:
        for folder in (out, staging, building):
            shutil.rmtree(folder, ignore_errors=True)
    elif out.exists():
        raise FileExistsError(f"{out} already exists; pass overwrite=True (--overwrite) to replace it")
    jobs = [
        EpisodeJob(suite, task_id, episode)
        for suite in suites
        for task_id in (task_ids if task_ids is not None else range(SUITES[suite].n_tasks))
        for episode in range(episodes_per_task)
    ]
    settings = {
        "suites": list(suites),
        "task_ids": None if task_ids is None else list(task_ids),
        "episodes_per_task": episodes_per_task,
        "max_steps": max_steps,
        "controller": controller,
        "successful_only": successful_only,
        "init_states": init_states,
        "image_size": image_size,
        "action_noise": action_noise,
        "images": images,
    }
    episode_keys = (
        "max_steps", "controller", "successful_only", "init_states", "image_size", "action_noise", "images"
    )  # fmt: skip
    staging.mkdir(parents=True, exist_ok=True)
    settings_file = staging / "settings.json"
    if settings_file.is_file():
        previous = json.loads(settings_file.read_text())
        defaults = {"init_states": "benchmark", "image_size": IMAGE_SIZE, "action_noise": 0.0, "images": True}
        if {k: previous.get(k, defaults.get(k)) for k in episode_keys} != {
            k: settings[k] for k in episode_keys
        }:
            raise ConfigError(
                f"{staging} holds episodes recorded with {previous}, not {settings}: rerun with the same "
                "settings to resume, or pass overwrite=True (--overwrite) to start again"
            )
    settings_file.write_text(json.dumps(settings, indent=1))

    outcomes: dict[EpisodeJob, dict[str, Any]] = {}
    for job in jobs:
        if (staging / job.name).is_file():
            outcomes[job] = _staged_outcome(staging / job.name, job)
    # Recorded in rounds of a few episodes of every task, so that a partial (or interrupted) run already
    # covers every task; the dataset is still built in (suite, task, episode) order.
    order = {job: i for i, job in enumerate(jobs)}
    pending = sorted(
        (job for job in jobs if job not in outcomes),
        key=lambda job: (job.episode // EPISODES_PER_ROUND, order[job]),
    )
    started = time.perf_counter()
    with tqdm(total=len(jobs), initial=len(outcomes), desc="recording episodes", unit="episode") as bar:

        def done(outcome: dict[str, Any], job: EpisodeJob) -> None:
            outcomes[job] = outcome
            bar.update(1)
            bar.set_postfix(success=f"{sum(o['success'] for o in outcomes.values())}/{len(outcomes)}")

        if workers == 1 or len(pending) <= 1:
            for job in pending:
                done(record_episode(job, staging, record), job)
        else:
            _record_in_processes(pending, staging, record, workers, done)
    record_seconds = time.perf_counter() - started
    _close_worker_env()

    _build_dataset(
        jobs, staging, building, repo_id or f"local/{out.name}", image_size, images, benchmark.name
    )
    summary = generation_summary([outcomes[job] for job in jobs])
    report = {
        **settings,
        "workers": workers,
        "record_seconds_this_run": round(record_seconds, 1),
        "episodes_recorded_this_run": len(pending),
        **summary,
    }
    (building / "meta" / GENERATION_FILE).write_text(json.dumps(report, indent=1))
    kept = summary["overall"]["kept"]
    if kept == 0:
        shutil.rmtree(building)
        from vla.data.dataset import DatasetError

        raise DatasetError(
            f"no episode was kept for {out}: the {controller} controller succeeded in none "
            f"(staged outcomes stay in {staging})"
        )
    os.replace(building, out)
    shutil.rmtree(staging)
    return out


def _record_in_processes(pending, staging, record: RecordSettings, workers, done) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    # spawn: MuJoCo's rendering contexts must not be inherited by fork.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        futures = {pool.submit(record_episode, job, staging, record): job for job in pending}
        try:
            for future in as_completed(futures):
                done(future.result(), futures[future])
        except BrokenProcessPool as error:
            raise RuntimeError(
                "a recording worker died (out of memory or killed); the episodes finished so far are "
                f"staged in {staging}: rerun the same command to continue"
            ) from error


def _close_worker_env() -> None:
    if "env" in _WORKER_ENV:
        _WORKER_ENV.pop("env").close()
        _WORKER_ENV.pop("key", None)


def _build_dataset(
    jobs: list[EpisodeJob],
    staging: Path,
    building: Path,
    repo_id: str,
    image_size: int = IMAGE_SIZE,
    images: bool = True,
    benchmark_name: str = "libero",
    image_writer_threads: int | None = None,
) -> None:
    """Staged episodes -> a LeRobotDataset in ``building`` in the benchmark's schema, in job order (episodes
    without frames are skipped). ``image_writer_threads``: lerobot's PNG-writing threads (None: one per core;
    0: written in this thread)."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from tqdm.auto import tqdm

    shutil.rmtree(building, ignore_errors=True)  # a build killed half-way starts again
    benchmark = get_benchmark(benchmark_name)
    threads = (os.cpu_count() or 1) if image_writer_threads is None else image_writer_threads
    dataset = LeRobotDataset.create(
        repo_id=repo_id,
        fps=benchmark.fps,
        features=(features := benchmark.features(image_size, images)),
        root=building,
        robot_type=benchmark.robot_type,
        use_videos=False,
        # PNG encoding is most of this stage and releases the GIL: threads use the cores the recording
        # workers have left (same frames; bench/dataset_write.py)
        image_writer_threads=threads if images else 0,
    )
    with library_progress_bars_off():  # lerobot's per-episode `Map` bars would bury ours
        for job in tqdm(jobs, desc="writing LeRobotDataset", unit="episode"):
            with np.load(staging / job.name) as data:
                if not bool(data["kept"]):
                    continue
                n = len(data["actions"])
                instruction = str(data["instruction"])
                columns = {key: data[key] for key in features}
            for i in range(n):
                dataset.add_frame(
                    {**{key: values[i] for key, values in columns.items()}, "task": instruction}
                )
            dataset.save_episode()
        dataset.finalize()


def generation_summary(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Success per task and overall; ``kept`` counts episodes with frames in the dataset."""
    per_task: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        row = per_task.setdefault(
            f"{o['suite']}/{o['task_id']}", {"episodes": 0, "successes": 0, "steps": []}
        )
        row["episodes"] += 1
        row["successes"] += int(o["success"])
        row["steps"].append(o["steps"])
    distances = [o["distance_to_eval_states"] for o in outcomes if "distance_to_eval_states" in o]
    return {
        "per_task": per_task,
        "overall": {
            "episodes": len(outcomes),
            "successes": sum(int(o["success"]) for o in outcomes),
            "kept": sum(int(o["kept"]) for o in outcomes),
            # How far the nearest demonstration start lies from the benchmark's evaluation states
            # (max-abs over simulator positions; 0 = recorded from an evaluation state).
            "min_distance_to_eval_states": min(distances) if distances else None,
        },
        "episodes": [
            {
                k: o[k]
                for k in (
                    "suite",
                    "task_id",
                    "episode",
                    "placement_seed",
                    "distance_to_eval_states",
                    "success",
                    "kept",
                    "steps",
                )
                if k in o
            }
            for o in outcomes
        ],
    }


def record_scripted_episodes(
    out: str | Path,
    suite: str = "libero_object",
    task_ids: Sequence[int] = (0,),
    episodes_per_task: int = 2,
    max_steps: int | None = None,
    overwrite: bool = False,
    controller: str = "expert",
    successful_only: bool = False,
) -> Path:
    """One suite, in this process: the small form of :func:`generate_episodes` the demo and tests use."""
    return generate_episodes(
        out,
        (suite,),
        tuple(task_ids),
        episodes_per_task,
        max_steps=max_steps,
        controller=controller,
        successful_only=successful_only,
        overwrite=overwrite,
    )


def format_generation_report(report: dict[str, Any]) -> str:
    """The terminal table of a generation report (``meta/vla_generation.json``): success and mean steps
    per task, then the totals."""
    lines = [f"{'task':<22} success  mean steps"]
    for task, row in report["per_task"].items():
        steps = sum(row["steps"]) / len(row["steps"])
        lines.append(f"{task:<22} {row['successes']:>3}/{row['episodes']:<3}  {steps:6.1f}")
    overall = report["overall"]
    lines.append(
        f"overall: {overall['successes']}/{overall['episodes']} succeeded, {overall['kept']} episodes kept"
    )
    return "\n".join(lines)
