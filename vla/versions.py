"""Package versions and the machine, recorded next to every result (experiments, evaluations, benchmarks)."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = (
    "vla",
    "torch",
    "transformers",
    "accelerate",
    "peft",
    "lerobot",
    "hf-libero",
    "mujoco",
    "robosuite",
)


def package_versions(*extra: str) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in (*PACKAGES, *extra):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _cpuinfo() -> tuple[str | None, set[str]]:
    """The CPU's model name and flags from /proc/cpuinfo (None and no flags elsewhere)."""
    path = Path("/proc/cpuinfo")
    model, flags = None, set()
    if path.is_file():
        for line in path.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model is None:
                model = value.strip()
            elif key.strip() == "flags":
                flags |= set(value.split())
    return model, flags


def _bf16_flags(flags: set[str]) -> list[str]:
    return sorted(f for f in flags if "bf16" in f or f.startswith("amx"))


def cpu_bf16_flags() -> list[str]:
    """The CPU's bfloat16 and AMX flags: training speed on CPU depends on them (bf16 autocast gains 1.6x with
    ``avx512_bf16`` alone and nothing on an AMX host, bench/train_precision.py)."""
    return _bf16_flags(_cpuinfo()[1])


def machine_info() -> dict[str, Any]:
    """What a reader needs to compare wall times and speeds across runs: two "2-core" hosts differed 2x."""
    model, flags = _cpuinfo()
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "cpu_bf16_flags": _bf16_flags(flags),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    try:
        import torch
    except ImportError:
        return info
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
