"""LIBERO's protocol tables: per-suite episode limits, settle steps, initial states, and the named
evaluation protocols a published LIBERO number was measured with.

- ``lerobot`` (the default): lerobot-eval's LIBERO episode lengths (spatial 280, object 280, goal 300,
  libero_10 520, libero_90 400); each chunk executed as the policy gives it (lerobot executes a policy's
  ``n_action_steps``; our checkpoints' chunks whole).
- ``openpi``: openpi's ``examples/libero/main.py`` (also openvla-oft's lengths): libero_spatial 220, the
  others as lerobot; replan every 5 actions (``replan_steps=5``).

Both start each episode from the benchmark's initial state with the episode's index, settle with
``SETTLE_STEPS`` no-op steps and seed numpy before each reset (``reset_seed``), so the episodes themselves
are the same; only the step limit and the actions executed per chunk differ.
"""

from __future__ import annotations

from vla.envs.base import DEFAULT_PROTOCOL, EvalProtocol, SuiteProtocol  # noqa: F401 (LIBERO's default is the shared one)

#: No-op steps after reset that let objects settle (the public protocol).
SETTLE_STEPS = 10
#: Fixed initial states per task in the benchmark's init files.
N_INIT_STATES = 50

#: Per-suite episode limits used by the public LIBERO results (lerobot uses the same numbers).
PROTOCOL: dict[str, SuiteProtocol] = {
    "libero_spatial": SuiteProtocol(max_steps=280, n_tasks=10, n_init_states=N_INIT_STATES),
    "libero_object": SuiteProtocol(max_steps=280, n_tasks=10, n_init_states=N_INIT_STATES),
    "libero_goal": SuiteProtocol(max_steps=300, n_tasks=10, n_init_states=N_INIT_STATES),
    "libero_10": SuiteProtocol(max_steps=520, n_tasks=10, n_init_states=N_INIT_STATES),
    "libero_90": SuiteProtocol(max_steps=400, n_tasks=90, n_init_states=N_INIT_STATES),
}

_LEROBOT_STEPS = {suite: p.max_steps for suite, p in PROTOCOL.items()}  # the suite table owns them

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
