"""What the evaluation harness can roll out, and how a ``--policy`` spec finds its class.

Each adapter turns (environment, observation) into an action chunk (n, 7) in physical units. ``reset`` gets
a per-episode seed so that a sharded or vectorized evaluation gives the same episodes as a single process.

Two kinds, told apart by ``runs_in_env_worker``:

- policies that read the simulator's privileged state (expert, scripted) or are trivially cheap (random)
  run *inside* each simulator worker process, next to the environment they read;
- learned policies (``BatchedPolicy``) run once in the main process: ``predict`` takes the observations of
  every live environment and returns their chunks in one batched forward pass.

Each policy also says which observation images it reads (``cameras``) and at what size (``image_size``):
the simulator renders only those.

A policy class registers the spec it answers to with ``@register_policy`` in its own module (``expert``;
``lerobot:`` followed by a folder or Hub id; ``None`` for every other spec: a checkpoint folder or Hub id)
and builds itself from that spec with ``from_spec``. ``vla.eval.policies`` imports the built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import numpy as np

from vla.config import ConfigError
from vla.envs.base import all_cameras, check_camera_names


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


def policy_cameras(image_keys, who: str) -> tuple[str, ...]:
    cameras = all_cameras()
    unknown = [key for key in image_keys if key not in cameras]
    if unknown:
        raise ConfigError(
            f"{who} reads image features {unknown}, which no registered benchmark renders; "
            f"the simulators provide {sorted(cameras)}"
        )
    return check_camera_names(image_keys, cameras)


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


_Policy = TypeVar("_Policy", bound=type)
#: Whole specs (``expert``) and prefixes (``lerobot:``) -> the class that answers to them.
_BY_NAME: dict[str, type] = {}
_BY_PREFIX: dict[str, type] = {}
#: The class of every other spec (a checkpoint folder or Hub id).
_FALLBACK: list[type] = []


def register_policy(spec: str | None) -> Callable[[_Policy], _Policy]:
    """Class decorator: the class answers to ``spec``, a whole spec (``"expert"``), a prefix ending in ``:``
    (``"lerobot:"``, followed by a folder, Hub id or dataset), or ``None`` for every spec no other class
    answers to. Each spec has one class; registering another for it is an error.

    The class builds itself with ``from_spec(argument, *, seed, device, dtype)``: ``argument`` is what follows
    a prefix (the whole spec for ``None``, empty for a whole spec)."""

    def register(cls: _Policy) -> _Policy:
        if spec is None:
            taken = _FALLBACK[0] if _FALLBACK else None
        else:
            taken = (_BY_PREFIX if spec.endswith(":") else _BY_NAME).get(spec)
        if taken is not None and taken is not cls:
            raise ValueError(f"rollout policy spec {spec!r} is already registered to {taken.__name__}")
        if spec is None:
            _FALLBACK[:] = [cls]
        else:
            (_BY_PREFIX if spec.endswith(":") else _BY_NAME)[spec] = cls
        return cls

    return register


def registered_policies() -> dict[str | None, type]:
    """Spec (a whole spec, a prefix ending in ``:``, ``None`` for every other spec) -> the class answering it."""
    return {**_BY_NAME, **_BY_PREFIX, **({None: _FALLBACK[0]} if _FALLBACK else {})}


def load_rollout_policy(spec: str, seed: int = 0, device: str = "auto", dtype: str = "auto") -> RolloutPolicy:
    """``scripted``, ``expert``, ``random``, ``replay:<dataset>``, ``lerobot:<folder or Hub id>``, or a
    checkpoint folder / Hub id: whatever class registered the spec (``register_policy``) builds it.

    ``device`` and ``dtype`` apply to learned policies (a lerobot policy keeps its own dtype)."""
    options: dict[str, Any] = {"seed": seed, "device": device, "dtype": dtype}
    if spec in _BY_NAME:
        return _BY_NAME[spec].from_spec("", **options)
    for prefix, cls in _BY_PREFIX.items():
        if spec.startswith(prefix):
            return cls.from_spec(spec[len(prefix) :], **options)
    if not _FALLBACK:
        raise ValueError(f"no rollout policy answers to {spec!r}; registered: {list(registered_policies())}")
    return _FALLBACK[0].from_spec(spec, **options)
