"""Package versions recorded next to every result (evaluations, benchmarks)."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

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
