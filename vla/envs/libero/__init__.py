"""LIBERO: offline set-up, the environment wrapper, the protocol tables, BDDL goals, scene geometry, the
scripted expert and controller, and :class:`LiberoBenchmark` (registered as ``libero``)."""

from vla.envs.libero.benchmark import LiberoBenchmark, LiberoTask

__all__ = ["LiberoBenchmark", "LiberoTask"]
