"""Process-group helpers shared by training and evaluation under ``accelerate launch``."""

from __future__ import annotations

import os


def use_cpu_processes_without_gpu() -> None:
    """Make ``accelerate launch`` with several processes on a GPU-less machine really distributed.

    accelerate spawns the processes, but without CUDA and without ACCELERATE_USE_CPU each one silently runs
    alone (DistributedType.NO): N unsynchronized copies. Setting the flag before accelerate's state exists
    makes them join one gloo process group instead.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch

        if not torch.cuda.is_available():
            os.environ.setdefault("ACCELERATE_USE_CPU", "1")


def process_state():
    """accelerate's ``PartialState`` (rank, world size, barrier), CPU-safe."""
    use_cpu_processes_without_gpu()
    from accelerate import PartialState

    return PartialState(cpu=os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true"))
