"""LIBERO-PRO's perturbed evaluation suites as a :class:`vla.envs.base.Benchmark` (registered as
``libero_pro``).

LIBERO-PRO (Zhou et al. 2025, arXiv:2510.03827) evaluates the LIBERO tasks under perturbations that a
policy which memorised its training scenes fails: other objects (``_object``), other initial positions
(``_swap``), paraphrased instructions (``_lan``), other tasks in the same scene (``_task``) and other
environments (``_env``). Two of them are here, over libero_spatial, libero_object, libero_goal and
libero_10, named as LIBERO-PRO names them:

- ``<suite>_lan`` (language): the task, the scene and the benchmark's 50 initial states of ``<suite>``,
  with the instruction replaced by LIBERO-PRO's first paraphrase of it (``tables.PARAPHRASES``). Only the
  words change, so a number on it compares directly with the same policy's number on ``<suite>``.
- ``<suite>_swap`` (position): each object of interest trades its initial region with another object of
  the scene (``tables.SWAP_CANDIDATES``; the first candidate, see :func:`bddl.plan_swaps`), and initial
  state ``i`` is drawn by LIBERO's own placement samplers from the perturbed BDDL file with seed
  ``SWAP_STATE_SEED + i`` (what LIBERO-PRO's generated init files are: samples from its perturbed files).

The perturbed BDDL files are written by :func:`perturbed_bddl` from the installed LIBERO files into the
cache (``$VLA_CACHE/libero_pro``, default ``~/.cache/vla/libero_pro``) at first use; nothing is downloaded.
Everything else (robot, cameras, observation and action layout, simulator, expert) is LIBERO's: the
environment is :class:`vla.envs.libero.env.LiberoEnv` built from the perturbed task.

Protocol: LIBERO-PRO evaluates with openvla-oft's LIBERO runner and its step limits per base suite
(README, ``TASK_MAX_STEPS``: spatial 220, object 280, goal 300, libero_10 520), 10 no-op settle steps,
50 episodes per task from the task's initial states. That is ``--protocol libero_pro``; ``lerobot`` and
``openpi`` give a perturbed suite the step limits of its base suite under those protocols.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vla.config import ConfigError
from vla.envs.base import EvalProtocol, SuiteProtocol, get_benchmark, register_benchmark
from vla.envs.libero.benchmark import LiberoBenchmark, LiberoTask
from vla.envs.libero.env import LiberoEnv
from vla.envs.libero.protocol import N_INIT_STATES
from vla.envs.libero.protocol import PROTOCOLS as LIBERO_PROTOCOLS
from vla.envs.libero_pro import bddl
from vla.envs.libero_pro.tables import PARAPHRASES, SWAP_CANDIDATES


@dataclass(frozen=True)
class Perturbation:
    """One kind of LIBERO-PRO perturbation: the suffix of its suites and what it changes."""

    suffix: str
    changes: str


PERTURBATIONS: dict[str, Perturbation] = {
    "language": Perturbation("lan", "the instruction: LIBERO-PRO's first paraphrase of it"),
    "position": Perturbation("swap", "initial positions: objects of interest trade regions with others"),
}
#: The LIBERO suites LIBERO-PRO perturbs -> their step limit in LIBERO-PRO's evaluation (openvla-oft's).
BASE_SUITES: dict[str, int] = {
    "libero_spatial": 220,
    "libero_object": 280,
    "libero_goal": 300,
    "libero_10": 520,
}
#: Initial state ``i`` of a ``_swap`` task is drawn with seed ``SWAP_STATE_SEED + i``.
SWAP_STATE_SEED = 100_000


def _suite_table() -> dict[str, tuple[str, str]]:
    return {f"{base}_{p.suffix}": (base, kind) for kind, p in PERTURBATIONS.items() for base in BASE_SUITES}


#: Perturbed suite -> (its LIBERO suite, the perturbation's name).
SUITE_SOURCES: dict[str, tuple[str, str]] = _suite_table()

SUITES: dict[str, SuiteProtocol] = {
    suite: SuiteProtocol(max_steps=BASE_SUITES[base], n_tasks=10, n_init_states=N_INIT_STATES)
    for suite, (base, _) in SUITE_SOURCES.items()
}


def _protocols() -> dict[str, EvalProtocol]:
    protocols = {
        "libero_pro": EvalProtocol(
            "libero_pro",
            {suite: p.max_steps for suite, p in SUITES.items()},
            None,
            "LIBERO-PRO README (openvla-oft run_libero_eval.py, TASK_MAX_STEPS per base suite)",
        )
    }
    for name, libero in LIBERO_PROTOCOLS.items():
        steps = {suite: libero.max_steps[base] for suite, (base, _) in SUITE_SOURCES.items()}
        protocols[name] = EvalProtocol(
            name, steps, libero.actions_per_chunk, f"{libero.source}; each perturbed suite as its base suite"
        )
    return protocols


PROTOCOLS: dict[str, EvalProtocol] = _protocols()


def cache_dir() -> Path:
    """Where the perturbed BDDL files are written: ``$VLA_CACHE/libero_pro`` (default ``~/.cache/vla``)."""
    return Path(os.environ.get("VLA_CACHE", Path.home() / ".cache" / "vla")) / "libero_pro"


def perturb(text: str, base: str, task_name: str, kind: str) -> tuple[str, str]:
    """A LIBERO BDDL problem (``text``, task ``task_name`` of ``base``) perturbed by ``kind``: the new
    file's text and the instruction a policy is given."""
    if kind == "language":
        instruction = PARAPHRASES[base][task_name][0]
        return bddl.with_language(text, instruction), instruction
    if kind == "position":
        pairs = bddl.plan_swaps(text, SWAP_CANDIDATES[base][task_name])
        if not pairs:
            raise ValueError(f"{base} task {task_name}: no object of interest can trade places")
        return bddl.with_swapped_placements(text, pairs), ""
    raise ValueError(f"unknown perturbation {kind!r}; known: {sorted(PERTURBATIONS)}")


def perturbed_bddl(suite: str, source: str | Path, text: str) -> Path:
    """Write ``text`` (the perturbed version of the BDDL file ``source``) into the cache, once: rewritten
    only when it differs, atomically (several simulator workers may build the same task at once)."""
    path = cache_dir() / suite / Path(source).name
    if path.is_file() and path.read_text() == text:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


class LiberoProEnv(LiberoEnv):
    """A ``_swap`` task: :class:`LiberoEnv` whose initial state ``i`` is drawn on first use, by LIBERO's
    placement samplers from the perturbed BDDL file with seed ``SWAP_STATE_SEED + i``, then kept.

    A drawn state is used exactly as a benchmark state (``reset(i, seed=...)`` resets, restores it and
    settles), so the episodes follow the standard protocol.
    """

    def init_state(self, episode: int) -> np.ndarray:
        if self.init_states[episode] is None:  # drawn on first use, then kept
            self.init_states[episode] = self.initial_state(episode)
        return self.init_states[episode]

    def initial_state(self, episode: int) -> np.ndarray:
        """Draw initial state ``episode`` (this resets the environment)."""
        self.reset_random(SWAP_STATE_SEED + episode, settle_steps=0, cameras=())
        return self.start_state.copy()

    def distance_to_benchmark_states(self, state: np.ndarray | None = None) -> float:
        raise ConfigError(
            f"{self.suite} is a LIBERO-PRO evaluation suite: record training data on the LIBERO suite instead "
            f"(e.g. --suite {self.suite.rsplit('_', 1)[0]})"
        )


@register_benchmark("libero_pro")
class LiberoProBenchmark(LiberoBenchmark):
    """LIBERO-PRO's language (``_lan``) and position (``_swap``) suites over the four LIBERO suites."""

    suites = SUITES
    protocols = PROTOCOLS
    default_protocol = "libero_pro"

    def source(self, suite: str) -> tuple[str, str]:
        """``(LIBERO suite, perturbation)`` of a perturbed suite."""
        self.check_suite_task(suite, 0)
        return SUITE_SOURCES[suite]

    def libero_task(self, suite: str, task_id: int) -> LiberoTask:
        """The perturbed task: its instruction and its perturbed BDDL file (written at first use)."""
        self.check_suite_task(suite, task_id)
        base, kind = SUITE_SOURCES[suite]
        task = get_benchmark("libero").libero_task(base, task_id)
        text, instruction = perturb(Path(task.bddl_file).read_text(), base, Path(task.bddl_file).stem, kind)
        path = perturbed_bddl(suite, task.bddl_file, text)
        return LiberoTask(instruction or task.language, str(path))

    def instruction(self, suite: str, task_id: int) -> str:
        self.check_suite_task(suite, task_id)
        base, kind = SUITE_SOURCES[suite]
        libero = get_benchmark("libero")
        if kind == "language":
            return PARAPHRASES[base][Path(libero.libero_task(base, task_id).bddl_file).stem][0]
        return libero.instruction(base, task_id)

    def libero_init_states(self, suite: str, task_id: int) -> np.ndarray | list:
        """``_lan``: the LIBERO task's own initial states. ``_swap``: placeholders that
        :class:`LiberoProEnv` fills on first use (drawing all 50 up front costs a reset each)."""
        self.check_suite_task(suite, task_id)
        base, kind = SUITE_SOURCES[suite]
        if kind == "language":
            return get_benchmark("libero").libero_init_states(base, task_id)
        return [None] * self.suites[suite].n_init_states

    def env_class(self, suite: str) -> type[LiberoEnv]:
        # an unknown suite gets LiberoEnv, whose suite check names the allowed ones
        return LiberoProEnv if SUITE_SOURCES.get(suite, ("", ""))[1] == "position" else LiberoEnv
