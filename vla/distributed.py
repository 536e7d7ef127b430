"""Process-group helpers shared by training and evaluation under ``accelerate launch``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def is_launch_rank_zero() -> bool:
    """True in a plain process and in rank 0 of ``accelerate launch`` / torchrun (read from ``RANK``, without
    starting accelerate): the one process that prints the user-facing lines."""
    return int(os.environ.get("RANK", "0")) == 0


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


def fsdp_without_gpu() -> None:
    """Make ``accelerate launch`` with an FSDP config really shard on a GPU-less machine (over gloo).

    accelerate (1.15) makes every multi-process CPU run ``MULTI_CPU`` and upgrades only GPU-like types to
    ``FSDP``, so an FSDP config would silently train plain data parallel on CPU. torch's FSDP2 itself runs on
    CPU over gloo; presenting the already joined gloo group as a multi-device one lets accelerate's own
    FSDP2 path (sharding, gathered state dicts, sharded checkpoints) run, as it does on GPUs. Call before
    the ``Accelerator`` exists; a no-op unless FSDP is requested, several processes run and CUDA is absent.
    """
    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() != "true":
        return
    from accelerate import PartialState
    from accelerate.utils import DistributedType

    state = process_state()
    if state.distributed_type == DistributedType.MULTI_CPU:
        PartialState._shared_state["distributed_type"] = DistributedType.MULTI_GPU


def process_state():
    """accelerate's ``PartialState`` (rank, world size, barrier), CPU-safe."""
    use_cpu_processes_without_gpu()
    from accelerate import PartialState

    return PartialState(cpu=os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true"))


def launch_command(module: str, args: list[str], processes: int, config_file: str | Path) -> list[str]:
    """The command line that runs ``python -m module *args``: in this interpreter for one process, under
    ``accelerate launch --config_file config_file --num_processes N`` for several (the demo's and the
    experiment's training runs)."""
    if processes <= 1:
        return [sys.executable, "-m", module, *args]
    return [
        sys.executable, "-m", "vla.launch",  # accelerate launch, minus its traceback after a rank's one line
        "--config_file", str(config_file),
        "--num_processes", str(processes),
        "-m", module, *args,
    ]  # fmt: skip


def run_training_subprocess(command: list[str], env: dict[str, str], cwd: str | Path) -> int:
    """Run a training command (``launch_command``) in its own process group and return its exit status
    (128 + n when signal n ended it).

    SIGINT, SIGTERM and SIGHUP sent to this process alone (``kill <pid>``, a job scheduler, a closed
    terminal) are passed on to the whole group (the launcher and every rank), which finish their step and
    save a checkpoint: without it the launcher dies and its ranks train on, orphaned, into the same folder."""
    import threading

    if threading.current_thread() is not threading.main_thread():  # signal handlers need the main thread
        return _exit_status(subprocess.run(command, env=env, cwd=cwd).returncode)
    process: subprocess.Popen | None = None
    pending: list[int] = []

    def forward(signum: int, frame) -> None:
        if process is None:  # arrived while the group was being started: sent once it exists
            pending.append(signum)
            return
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:  # the group has already exited
            pass

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, forward) for sig in signals}
    try:
        process = subprocess.Popen(command, env=env, cwd=cwd, start_new_session=True)
        for signum in pending:
            forward(signum, None)
        return _exit_status(process.wait())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def _exit_status(returncode: int) -> int:
    """The shell's convention: a process killed by signal n exits with 128 + n (Popen says -n)."""
    return 128 - returncode if returncode < 0 else returncode
