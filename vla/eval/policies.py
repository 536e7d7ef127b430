"""What the evaluation harness can roll out: our checkpoints, the scripted controller,
the scripted expert, a random policy.

Each adapter turns (environment, observation) into an action chunk (n, 7) in physical units. ``reset`` gets
a per-episode seed so that a sharded evaluation gives the same episodes as a single process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from vla.sim.libero_env import ACTION_DIM


class RolloutPolicy(Protocol):
    name: str
    #: Chunks whose tokens did not decode cleanly since the last reset (0 for non-token policies).
    invalid_chunks: int

    def reset(self, episode_seed: int) -> None: ...

    def act(self, env, observation: dict[str, np.ndarray]) -> np.ndarray: ...


class CheckpointPolicy:
    def __init__(self, path: str | Path) -> None:
        from vla.model.policy import VLAPolicy

        self.name = str(path)
        self.policy = VLAPolicy.from_pretrained(path)
        self.invalid_chunks = 0

    def reset(self, episode_seed: int) -> None:
        self.invalid_chunks = 0

    def act(self, env, observation):
        chunk, valid = self.policy.predict_action_chunk(
            {**observation, "task": env.instruction}, return_valid=True
        )
        self.invalid_chunks += int(not valid)
        return chunk


class ScriptedPolicy:
    name = "scripted"

    def __init__(self) -> None:
        from vla.sim.scripted import ScriptedReachGrasp

        self.controller = ScriptedReachGrasp()
        self.invalid_chunks = 0

    def reset(self, episode_seed: int) -> None:
        self.controller.reset()

    def act(self, env, observation):
        return self.controller.act(env)[None]


class ExpertPolicy:
    """The privileged-state scripted expert (``vla.sim.expert``): solves tasks, for data and baselines."""

    name = "expert"

    def __init__(self) -> None:
        from vla.sim.expert import LiberoExpert

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

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.invalid_chunks = 0

    def reset(self, episode_seed: int) -> None:
        self.rng = np.random.default_rng([self.seed, episode_seed])

    def act(self, env, observation):
        return self.rng.uniform(-1.0, 1.0, size=(1, ACTION_DIM))


def load_rollout_policy(spec: str, seed: int = 0) -> RolloutPolicy:
    """``scripted``, ``expert``, ``random``, or a checkpoint folder / Hub repo id."""
    if spec == "scripted":
        return ScriptedPolicy()
    if spec == "expert":
        return ExpertPolicy()
    if spec == "random":
        return RandomPolicy(seed)
    return CheckpointPolicy(spec)
