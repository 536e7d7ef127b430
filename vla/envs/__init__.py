"""Simulator benchmarks behind one interface (:class:`vla.envs.base.Benchmark`), and one rollout loop.

Each benchmark lives in its own module or folder and registers itself with ``@register_benchmark(name)``;
importing this package imports the built-in ones so that they register (``vla.envs.libero``).
"""

from vla.envs import libero as _libero  # noqa: F401  (the built-in benchmarks register on import)
from vla.envs import libero_pro as _libero_pro  # noqa: F401
from vla.envs.base import (
    DEFAULT_PROTOCOL,
    PROTOCOLS,
    SUITES,
    ActionLayout,
    Benchmark,
    BenchmarkEnv,
    Controller,
    EvalProtocol,
    SuiteProtocol,
    benchmark_for_suite,
    benchmark_names,
    check_suite_task,
    get_benchmark,
    register_benchmark,
    task_instruction,
)

__all__ = [
    "DEFAULT_PROTOCOL",
    "PROTOCOLS",
    "SUITES",
    "ActionLayout",
    "Benchmark",
    "BenchmarkEnv",
    "Controller",
    "EvalProtocol",
    "SuiteProtocol",
    "benchmark_for_suite",
    "benchmark_names",
    "check_suite_task",
    "get_benchmark",
    "register_benchmark",
    "task_instruction",
]
