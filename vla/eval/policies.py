"""What the evaluation harness can roll out: our checkpoints, lerobot policies, the scripted controller,
the scripted expert, a random policy.

Each adapter turns (environment, observation) into an action chunk (n, 7) in physical units. ``reset`` gets
a per-episode seed so that a sharded or vectorized evaluation gives the same episodes as a single process.

Two kinds, told apart by ``runs_in_env_worker``:

- policies that read the simulator's privileged state (expert, scripted) or are trivially cheap (random)
  run *inside* each simulator worker process, next to the environment they read;
- learned policies (``BatchedPolicy``) run once in the main process: ``predict`` takes the observations of
  every live environment and returns their chunks in one batched forward pass.

Each policy also says which observation images it reads (``cameras``) and at what size (``image_size``):
the simulator renders only those.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vla.envs.libero.env import ACTION_DIM, CAMERAS, check_cameras

#: Prefix of a lerobot policy spec: ``lerobot:<folder or Hub repo id>``.
LEROBOT_PREFIX = "lerobot:"
#: Prefix of the open-loop baseline: ``replay:<dataset folder>`` replays the task's mean demonstration.
REPLAY_PREFIX = "replay:"


class RolloutPolicy(Protocol):
    name: str
    #: True: ``act(env, obs)`` runs in the simulator's worker process (it may read privileged state).
    runs_in_env_worker: bool
    #: Observation images the policy reads (``image``, ``wrist_image``); only these are rendered.
    cameras: tuple[str, ...]
    #: Side in pixels at which those images are rendered; ``None``: no preference.
    image_size: int | None
    #: Chunks whose tokens did not decode cleanly since the last reset (0 for non-token policies).
    invalid_chunks: int

    def reset(self, episode_seed: int) -> None: ...

    def act(self, env, observation: dict[str, np.ndarray]) -> np.ndarray: ...


class BatchedPolicy:
    """A learned policy: ``predict`` maps observations (images, ``state``, ``task``) to chunks, batched."""

    name = "batched"
    runs_in_env_worker = False
    cameras: tuple[str, ...] = ()
    image_size: int | None = None

    def __init__(self) -> None:
        self.invalid_chunks = 0

    def reset(self, episode_seed: int) -> None:
        self.invalid_chunks = 0

    def predict(self, observations: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Observations -> (chunks (batch, n, 7) in physical units, whether each chunk decoded cleanly)."""
        raise NotImplementedError

    def act(self, env, observation):
        chunks, valid = self.predict([{**observation, "task": env.instruction}])
        self.invalid_chunks += int(not valid[0])
        return chunks[0]


def _policy_cameras(image_keys, who: str) -> tuple[str, ...]:
    unknown = [key for key in image_keys if key not in CAMERAS]
    if unknown:
        raise ValueError(
            f"{who} reads image features {unknown}, which LIBERO does not render; "
            f"the simulator provides {sorted(CAMERAS)}"
        )
    return check_cameras(image_keys)


#: Weight dtypes a checkpoint can be evaluated in; ``auto`` is bfloat16 on a CUDA GPU that supports it.
INFERENCE_DTYPES = ("auto", "float32", "bfloat16", "float16")


def inference_device(requested: str = "auto"):
    """Where a learned policy runs: ``auto`` is this process's GPU (``cuda:LOCAL_RANK`` under
    ``accelerate launch``, as accelerate assigns it) when CUDA is available, else the CPU."""
    import torch

    from vla.config import ConfigError

    if requested == "auto":
        from vla.distributed import process_state

        device = process_state().device
        if device.type != "cuda":
            return torch.device("cpu")
    else:
        device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={requested!r}: CUDA is not available here; use 'cpu' or 'auto'")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(
            f"device={requested!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
    if device.type == "cuda" and device.index is None:  # name the GPU: results record where it ran
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def inference_dtype(requested: str, device):
    """``auto``: bfloat16 on a GPU that supports it (the training recipes' precision), float32 elsewhere."""
    import torch

    if requested == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, requested)


class CheckpointPolicy(BatchedPolicy):
    #: Rendered at the size of the images the checkpoint was trained on (``PolicyConfig.image_size``; 256 px,
    #: the public LIBERO datasets' size, for checkpoints that predate it), so the processor resizes exactly
    #: as in training rather than feeding the model images rendered at its input size, which it never saw.
    image_size = 256

    def __init__(self, path: str | Path, device: str = "auto", dtype: str = "auto") -> None:
        super().__init__()
        from vla.model.policy import VLAPolicy

        self.name = str(path)
        self.device = inference_device(device)
        self.dtype = inference_dtype(dtype, self.device)
        self.policy = VLAPolicy.from_pretrained(path)
        self.image_size = self.policy.config.image_size or CheckpointPolicy.image_size
        self.policy.model.to(device=self.device, dtype=self.dtype)
        self.cameras = _policy_cameras(self.policy.config.image_keys, f"checkpoint {path}")

    def predict(self, observations):
        chunks, valid = self.policy.predict_action_chunk(list(observations), return_valid=True)
        return np.asarray(chunks, dtype=np.float64), np.asarray(valid, dtype=bool)


class ScriptedPolicy:
    name = "scripted"
    runs_in_env_worker = True
    cameras: tuple[str, ...] = ()
    image_size = None

    def __init__(self) -> None:
        from vla.envs.libero.scripted import ScriptedReachGrasp

        self.controller = ScriptedReachGrasp()
        self.invalid_chunks = 0

    def reset(self, episode_seed: int) -> None:
        self.controller.reset()

    def act(self, env, observation):
        return self.controller.act(env)[None]


class ExpertPolicy:
    """The privileged-state scripted expert (``vla.envs.libero.expert``): solves tasks, for data and baselines."""

    name = "expert"
    runs_in_env_worker = True
    cameras: tuple[str, ...] = ()
    image_size = None

    def __init__(self) -> None:
        from vla.envs.libero.expert import LiberoExpert

        self.expert = LiberoExpert()
        self.needs_plan = True
        self.invalid_chunks = 0

    def reset(self, episode_seed: int) -> None:
        self.needs_plan = True  # the plan is built from the environment's state at the first act()

    def act(self, env, observation):
        if self.needs_plan:
            self.expert.reset(env)
            self.needs_plan = False
        return self.expert.act(env)[None]


class RandomPolicy:
    name = "random"
    runs_in_env_worker = True  # as cheap as it gets, and its per-episode generator lives with the episode
    cameras: tuple[str, ...] = ()
    image_size = None

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.invalid_chunks = 0

    def reset(self, episode_seed: int) -> None:
        self.rng = np.random.default_rng([self.seed, episode_seed])

    def act(self, env, observation):
        return self.rng.uniform(-1.0, 1.0, size=(1, ACTION_DIM))


def mean_demonstrations(dataset: str | Path) -> dict[str, np.ndarray]:
    """Instruction -> the mean demonstration of that task (steps, 7): each episode's actions resampled
    linearly onto the median episode length, averaged; the gripper is the sign of the mean (ties open)."""
    from vla.data.dataset import load_chunked_dataset

    data = load_chunked_dataset(dataset, horizon=1)
    actions, episodes, tasks = data.column("actions"), data.episode_index(), data.task_index()
    names = {
        int(index): str(task)
        for task, index in zip(
            data.lerobot.meta.tasks.index, data.lerobot.meta.tasks["task_index"], strict=True
        )
    }
    by_task: dict[str, list[np.ndarray]] = {}
    for episode in np.unique(episodes):
        rows = np.flatnonzero(episodes == episode)
        by_task.setdefault(names[int(tasks[rows[0]])], []).append(actions[rows].astype(np.float64))
    means = {}
    for task, demos in by_task.items():
        length = int(np.median([len(d) for d in demos]))
        grid = np.linspace(0.0, 1.0, length)
        resampled = [
            np.stack([np.interp(grid, np.linspace(0.0, 1.0, len(d)), d[:, j]) for j in range(ACTION_DIM)], 1)
            for d in demos
        ]
        mean = np.mean(resampled, axis=0)
        mean[:, -1] = np.where(mean[:, -1] > 0, 1.0, -1.0)
        means[task] = mean
    return means


class MeanReplayPolicy:
    """Open-loop replay of the task's mean demonstration (``replay:<dataset>``): a baseline that ignores
    every observation, so a learned policy that beats it is shown to use what it sees. After the replay the
    arm holds still with the last gripper command."""

    runs_in_env_worker = True
    cameras: tuple[str, ...] = ()
    image_size = None

    def __init__(self, dataset: str | Path) -> None:
        self.name = f"{REPLAY_PREFIX}{dataset}"
        self.trajectories = mean_demonstrations(dataset)
        self.invalid_chunks = 0
        self.replayed = False

    def reset(self, episode_seed: int) -> None:
        self.replayed = False

    def act(self, env, observation):
        trajectory = self.trajectories.get(env.instruction)
        if trajectory is None:
            raise ValueError(
                f"the replay dataset has no demonstration of {env.instruction!r}; it has "
                f"{sorted(self.trajectories)}"
            )
        if not self.replayed:
            self.replayed = True
            return trajectory.copy()
        hold = np.zeros((1, ACTION_DIM))
        hold[0, -1] = trajectory[-1, -1]
        return hold


def load_rollout_policy(spec: str, seed: int = 0, device: str = "auto", dtype: str = "auto") -> RolloutPolicy:
    """``scripted``, ``expert``, ``random``, ``replay:<dataset>``, ``lerobot:<folder or Hub id>``, or a
    checkpoint folder / Hub id.

    ``device`` and ``dtype`` apply to learned policies (a lerobot policy keeps its own dtype)."""
    if spec == "scripted":
        return ScriptedPolicy()
    if spec == "expert":
        return ExpertPolicy()
    if spec == "random":
        return RandomPolicy(seed)
    if spec.startswith(REPLAY_PREFIX):
        return MeanReplayPolicy(spec[len(REPLAY_PREFIX) :])
    if spec.startswith(LEROBOT_PREFIX):
        from vla.eval.lerobot_policy import LerobotPolicy

        return LerobotPolicy(spec[len(LEROBOT_PREFIX) :], device=device)
    return CheckpointPolicy(spec, device=device, dtype=dtype)
