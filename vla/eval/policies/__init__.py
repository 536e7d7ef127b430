"""The policies ``vla eval --policy SPEC`` rolls out: the interface and spec lookup (``base``), our checkpoints,
ensembles of our checkpoints, lerobot policies, the privileged scripted controller and expert, and the baselines.

A new kind of policy is one module with a class decorated by ``register_policy`` (see ``base``), imported
here so that it registers.
"""

from vla.eval.policies.base import (
    INFERENCE_DTYPES,
    BatchedPolicy,
    RolloutPolicy,
    inference_device,
    inference_dtype,
    load_rollout_policy,
    register_policy,
    registered_policies,
)
from vla.eval.policies.baselines import REPLAY_PREFIX, MeanReplayPolicy, RandomPolicy, mean_demonstrations
from vla.eval.policies.checkpoint import CheckpointPolicy
from vla.eval.policies.ensemble import ENSEMBLE_PREFIX, EnsemblePolicy
from vla.eval.policies.lerobot import LEROBOT_PREFIX, LerobotPolicy
from vla.eval.policies.privileged import ExpertPolicy, ScriptedPolicy

__all__ = [
    "ENSEMBLE_PREFIX",
    "INFERENCE_DTYPES",
    "LEROBOT_PREFIX",
    "REPLAY_PREFIX",
    "BatchedPolicy",
    "CheckpointPolicy",
    "EnsemblePolicy",
    "ExpertPolicy",
    "LerobotPolicy",
    "MeanReplayPolicy",
    "RandomPolicy",
    "RolloutPolicy",
    "ScriptedPolicy",
    "inference_device",
    "inference_dtype",
    "load_rollout_policy",
    "mean_demonstrations",
    "register_policy",
    "registered_policies",
]
