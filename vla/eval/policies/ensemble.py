"""``ensemble:<checkpoint>,<checkpoint>,...``: several of our checkpoints rolled out as one policy.

Each member predicts a chunk for the same observations and the ensemble executes their mean, action by
action (the gripper dimension too: the simulator acts on its sign, so the members vote; a tie averages to 0,
which leaves LIBERO's fingers where they are). Training runs of
one recipe that differ only in their seed fail on different initial states (``seeds.json``'s ``episodes``),
which is what an ensemble can exploit; it costs one forward pass per member.
"""

from __future__ import annotations

import numpy as np

from vla.config import ConfigError
from vla.eval.policies.base import BatchedPolicy, register_policy
from vla.eval.policies.checkpoint import CheckpointPolicy

ENSEMBLE_PREFIX = "ensemble:"


def ensemble_members(argument: str) -> list[str]:
    """The checkpoints of an ``ensemble:`` spec, refused in one line unless there are two or more."""
    members = [m.strip() for m in argument.split(",") if m.strip()]
    if len(members) < 2 or len(set(members)) < len(members):
        raise ConfigError(
            f"--policy={ENSEMBLE_PREFIX}{argument!s} is invalid: expected two or more distinct checkpoint "
            f"folders or Hub ids separated by commas, e.g. {ENSEMBLE_PREFIX}run_a/checkpoints/last,run_b/checkpoints/last"
        )
    return members


@register_policy(ENSEMBLE_PREFIX)
class EnsemblePolicy(BatchedPolicy):
    def __init__(self, members: list[str], device: str = "auto", dtype: str = "auto") -> None:
        super().__init__()
        self.members = [CheckpointPolicy(m, device=device, dtype=dtype) for m in members]
        first = self.members[0]
        # checked once here, not per chunk: what each member sees, and how many actions its chunks hold
        settings = {
            "cameras": lambda m: m.cameras,
            "image_size": lambda m: m.image_size,
            "horizon": lambda m: m.policy.config.horizon,
        }
        for member in self.members[1:]:
            for what, read in settings.items():
                if read(member) != read(first):
                    raise ConfigError(
                        f"--policy={ENSEMBLE_PREFIX}... is invalid: {member.name} has {what}="
                        f"{read(member)!r} but {first.name} has {read(first)!r}; ensemble checkpoints that "
                        "see the same observations and predict chunks of one length"
                    )
        self.name = ENSEMBLE_PREFIX + ",".join(m.name for m in self.members)
        self.cameras, self.image_size = first.cameras, first.image_size

    def sample_actions(self, samples: int, temperature: float, seed: int) -> None:
        """Each member draws its own ``samples`` chunks (from its own seed) before the ensemble's mean."""
        for i, member in enumerate(self.members):
            member.sample_actions(samples, temperature, seed + 7919 * i)

    def predict(self, observations):
        predictions = [member.predict(observations) for member in self.members]
        chunks = np.mean([chunks for chunks, _ in predictions], axis=0)
        valid = np.logical_and.reduce([valid for _, valid in predictions])
        return chunks, valid

    @classmethod
    def from_spec(cls, argument: str, *, seed: int, device: str, dtype: str) -> EnsemblePolicy:
        return cls(ensemble_members(argument), device=device, dtype=dtype)
