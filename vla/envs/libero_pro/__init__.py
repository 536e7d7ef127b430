"""LIBERO-PRO's perturbed evaluation suites (language and position) on the LIBERO simulator:
:class:`LiberoProBenchmark`, registered as ``libero_pro``."""

from vla.envs.libero_pro.benchmark import LiberoProBenchmark

__all__ = ["LiberoProBenchmark"]
