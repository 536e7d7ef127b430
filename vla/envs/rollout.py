"""The one rollout loop: reset an environment, then step it until the task succeeds or the steps run out.

Recording demonstrations (``vla.data.record``), evaluating a policy (``vla.eval``) and measuring the scripted
expert (``vla.envs.libero.expert``) all run their episodes through :func:`reset_episode` and :func:`rollout`;
what differs between them (where the actions come from, what is kept of each step, which cameras render)
is passed in as callables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vla.envs.base import BenchmarkEnv

Observation = dict[str, np.ndarray]


@dataclass(frozen=True)
class RolloutResult:
    success: bool
    #: Actions executed.
    steps: int
    #: The observation after the last step (the reset's observation if no step ran).
    observation: Observation


def reset_episode(
    env: BenchmarkEnv,
    *,
    episode: int | None = None,
    seed: int | None = None,
    placement_seed: int | None = None,
    settle_steps: int | None = None,
    cameras: tuple[str, ...] | None = None,
) -> Observation:
    """Start an episode and return its first observation, after the benchmark's settle steps.

    Either from the benchmark's fixed initial state ``episode`` (numpy seeded with ``seed`` first, if given)
    or, with ``placement_seed``, from a fresh random placement drawn from it (never an evaluation state).
    ``settle_steps`` and ``cameras`` default to the environment's.
    """
    if (episode is None) == (placement_seed is None):
        raise ValueError("reset_episode takes exactly one of episode and placement_seed")
    settle: dict[str, Any] = {} if settle_steps is None else {"settle_steps": settle_steps}
    if placement_seed is not None:
        if seed is not None:
            raise ValueError(
                "seed applies to a benchmark initial state; a random placement has placement_seed"
            )
        return env.reset_random(placement_seed, cameras=cameras, **settle)
    return env.reset(episode, cameras=cameras, seed=seed, **settle)


def rollout(
    env: BenchmarkEnv,
    observation: Observation,
    act: Callable[[Observation], np.ndarray],
    max_steps: int,
    *,
    cameras: Callable[[], tuple[str, ...] | None] | None = None,
    execute: Callable[[np.ndarray], np.ndarray] | None = None,
    on_step: Callable[[Observation, np.ndarray, Observation], None] | None = None,
) -> RolloutResult:
    """Step ``env`` from ``observation`` until it reports success or ``max_steps`` actions have run.

    Each step: ``act(observation)`` gives the action; ``execute(action)``, if given, the action actually
    sent to the simulator (e.g. with exploration noise; the callbacks still see ``act``'s); ``cameras()``,
    called after ``act``, the cameras to render for the next observation (default: the environment's);
    then ``on_step(observation, action, next_observation)`` (recording, video frames).
    """
    success, steps = False, 0
    while steps < max_steps and not success:
        action = act(observation)
        sent = action if execute is None else execute(action)
        following, success = env.step(sent, cameras=None if cameras is None else cameras())
        steps += 1
        if on_step is not None:
            on_step(observation, action, following)
        observation = following
    return RolloutResult(bool(success), steps, observation)
