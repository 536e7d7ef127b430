"""Baselines that ignore what they see: uniform random actions (``random``) and the open-loop replay of
each task's mean demonstration (``replay:<dataset>``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vla.eval.policies.base import register_policy

#: Prefix of the open-loop baseline: ``replay:<dataset folder>`` replays the task's mean demonstration.
REPLAY_PREFIX = "replay:"


@register_policy("random")
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
        return self.rng.uniform(-1.0, 1.0, size=(1, env.benchmark.action.dim))

    @classmethod
    def from_spec(cls, argument: str, *, seed: int, device: str, dtype: str) -> RandomPolicy:
        return cls(seed)


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
            np.stack([np.interp(grid, np.linspace(0.0, 1.0, len(d)), d[:, j]) for j in range(d.shape[1])], 1)
            for d in demos
        ]
        mean = np.mean(resampled, axis=0)
        mean[:, -1] = np.where(mean[:, -1] > 0, 1.0, -1.0)
        means[task] = mean
    return means


@register_policy(REPLAY_PREFIX)
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
        hold = np.zeros((1, trajectory.shape[1]))  # no motion, the gripper as the demonstration ends
        gripper = env.benchmark.action.gripper_index
        hold[0, gripper] = trajectory[-1, gripper]
        return hold

    @classmethod
    def from_spec(cls, argument: str, *, seed: int, device: str, dtype: str) -> MeanReplayPolicy:
        return cls(argument)
