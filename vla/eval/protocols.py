"""Named evaluation protocols: the settings a published LIBERO number was measured with, in one table.

- ``lerobot`` (the default): lerobot-eval's LIBERO episode lengths (spatial 280, object 280, goal 300,
  libero_10 520, libero_90 400); each chunk executed as the policy gives it (lerobot executes a policy's
  ``n_action_steps``; our checkpoints' chunks whole).
- ``openpi``: openpi's ``examples/libero/main.py`` (also openvla-oft's lengths): libero_spatial 220, the
  others as lerobot; replan every 5 actions (``replan_steps=5``).

Both start each episode from the benchmark's initial state with the episode's index, settle with 10 no-op
steps (``vla.sim.libero_env.SETTLE_STEPS``) and seed numpy before each reset (``reset_seed``), so the
episodes themselves are the same; only the step limit and the actions executed per chunk differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vla.sim.libero_env import PROTOCOL


@dataclass(frozen=True)
class EvalProtocol:
    name: str
    #: Step limit per suite.
    max_steps: dict[str, int]
    #: Actions executed from each predicted chunk before predicting again; ``None``: the whole chunk.
    actions_per_chunk: int | None
    #: Where the numbers come from.
    source: str
    notes: tuple[str, ...] = field(default=())


_LEROBOT_STEPS = {suite: p.max_steps for suite, p in PROTOCOL.items()}  # the simulator's table owns them

PROTOCOLS: dict[str, EvalProtocol] = {
    "lerobot": EvalProtocol(
        "lerobot", _LEROBOT_STEPS, None, "lerobot 0.6 lerobot-eval, LiberoEnv episode lengths"
    ),
    "openpi": EvalProtocol(
        "openpi",
        {**_LEROBOT_STEPS, "libero_spatial": 220},
        5,
        "openpi examples/libero/main.py (max_steps per suite, replan_steps=5)",
    ),
}
DEFAULT_PROTOCOL = "lerobot"
