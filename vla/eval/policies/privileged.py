"""Policies that read the simulator's privileged state, in the simulator's worker process: the scripted
reach-and-grasp controller (``scripted``) and the scripted expert (``expert``)."""

from __future__ import annotations

from vla.eval.policies.base import register_policy


@register_policy("scripted")
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

    @classmethod
    def from_spec(cls, argument: str, *, seed: int, device: str, dtype: str) -> ScriptedPolicy:
        return cls()


@register_policy("expert")
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

    @classmethod
    def from_spec(cls, argument: str, *, seed: int, device: str, dtype: str) -> ExpertPolicy:
        return cls()
