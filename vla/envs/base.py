"""The ``Benchmark`` interface: what vla needs to know about a simulator benchmark, in one place.

A benchmark owns its suites (each a list of tasks), its protocol tables (step limits, settle steps, initial
states), its cameras, its state and action layout, the dataset schema its demonstrations are recorded in,
the instruction of each task, how to build an environment, and its privileged expert if it has one.
Recording (``vla.data.record``), evaluation (``vla.eval``) and the shared rollout loop
(``vla.envs.rollout``) read all of that from here, so a second benchmark is one new file (or folder) with a
subclass of :class:`Benchmark` and the :func:`register_benchmark` decorator next to it.

This module never imports an implementation: ``vla.envs`` (the package) imports the built-in ones so that
they register. Lookups: :func:`get_benchmark` by name, :func:`benchmark_for_suite` by suite name (suite
names are unique across benchmarks).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np

from vla.config import check, check_choice

#: What :meth:`Benchmark.gripper_at_end` may answer.
GRIPPER_END_STATES = ("closed", "partly_closed", "open")


# ------------------------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class SuiteProtocol:
    """One suite of a benchmark: its default step limit per episode and how many tasks it has."""

    max_steps: int
    n_tasks: int
    #: Fixed initial states per task that evaluation episodes start from (episode i uses state i).
    n_init_states: int = 50


@dataclass(frozen=True)
class EvalProtocol:
    """A named evaluation protocol: the settings a published number was measured with."""

    name: str
    #: Step limit per suite.
    max_steps: dict[str, int]
    #: Actions executed from each predicted chunk before predicting again; ``None``: the whole chunk.
    actions_per_chunk: int | None
    #: Where the numbers come from.
    source: str
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ActionLayout:
    """How a benchmark's action vector is laid out.

    ``dim`` values, the gripper command at ``gripper_index`` (``gripper_open`` opens, ``gripper_closed``
    closes; LIBERO: -1 / +1); the others are continuous motion (LIBERO: delta end-effector pose).
    ``noop`` is the action that holds still (with the gripper open).
    """

    dim: int
    gripper_index: int = -1
    gripper_open: float = -1.0
    gripper_closed: float = 1.0
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check(self.dim >= 1, "dim", self.dim, "must be >= 1")
        check(-self.dim <= self.gripper_index < self.dim, "gripper_index", self.gripper_index, "inside dim")
        check(not self.names or len(self.names) == self.dim, "names", self.names, f"{self.dim} names or none")

    @property
    def motion_dims(self) -> list[int]:
        """Indices of every dimension except the gripper's."""
        gripper = self.gripper_index % self.dim
        return [i for i in range(self.dim) if i != gripper]

    @property
    def noop(self) -> np.ndarray:
        action = np.zeros(self.dim, dtype=np.float64)
        action[self.gripper_index] = self.gripper_open
        return action


# ------------------------------------------------------------------------------ what a benchmark makes
class BenchmarkEnv(Protocol):
    """What the rollout loop, recording and evaluation use of an environment (``LiberoEnv`` is one).

    Observations are dicts of numpy arrays: each rendered camera's image under its observation name
    and ``state``.
    """

    suite: str
    task_id: int
    instruction: str
    cameras: tuple[str, ...]
    image_size: int
    max_steps: int

    @property
    def n_init_states(self) -> int: ...

    def reset(
        self,
        episode: int = 0,
        settle_steps: int = ...,
        cameras: tuple[str, ...] | None = None,
        seed: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Start from the benchmark's fixed initial state ``episode``, settle, return the observation."""

    def reset_random(
        self, seed: int, settle_steps: int = ..., cameras: tuple[str, ...] | None = None
    ) -> dict[str, np.ndarray]:
        """Start from a fresh placement drawn from ``seed`` (not an evaluation state)."""

    def step(
        self, action: np.ndarray, cameras: tuple[str, ...] | None = None
    ) -> tuple[dict[str, np.ndarray], bool]:
        """One action; returns the next observation and whether the task is solved."""

    def close(self) -> None: ...


class Controller(Protocol):
    """A privileged-state controller (a scripted expert): ``reset(env)`` after each environment reset, then
    ``act(env)`` returns one action per step, read from the simulator's state."""

    def reset(self, env: Any) -> None: ...

    def act(self, env: Any) -> np.ndarray: ...


# ------------------------------------------------------------------------------------------ the interface
class Benchmark(ABC):
    """One simulator benchmark. Subclass it, fill the class attributes, implement the abstract methods and
    decorate the class with ``@register_benchmark("name")``.

    Class attributes (tables, not code):

    - ``suites``: suite name -> :class:`SuiteProtocol` (default step limit, number of tasks and of initial
      states). Suite names must be unique across all benchmarks.
    - ``protocols``: protocol name -> :class:`EvalProtocol`, with ``default_protocol`` naming one.
    - ``settle_steps``: no-op steps after each reset that let objects settle.
    - ``cameras``: observation image name -> simulator camera name.
    - ``state_dim``, ``action``: the proprioceptive state's size and the :class:`ActionLayout`.
    - ``fps``, ``robot_type``: the recorded dataset's frame rate and robot.
    """

    #: Set by :func:`register_benchmark`.
    name: ClassVar[str] = ""
    suites: ClassVar[Mapping[str, SuiteProtocol]] = {}
    protocols: ClassVar[Mapping[str, EvalProtocol]] = {}
    default_protocol: ClassVar[str] = ""
    settle_steps: ClassVar[int] = 0
    cameras: ClassVar[Mapping[str, str]] = {}
    state_dim: ClassVar[int] = 0
    action: ClassVar[ActionLayout] = ActionLayout(1)
    fps: ClassVar[int] = 10
    robot_type: ClassVar[str] = ""
    #: How observations are presented to a policy (e.g. image rotation, state layout): recorded in every
    #: results.json so that a number can be compared with another framework's.
    observation_notes: ClassVar[Mapping[str, Any]] = {}

    # -- checks and tables
    def check_suite_task(self, suite: str, task_id: int) -> None:
        check_choice("suite", suite, self.suites)
        n = self.suites[suite].n_tasks
        check(0 <= task_id < n, "task_id", task_id, f"{suite} has tasks 0..{n - 1}")

    def check_cameras(self, cameras: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        return check_camera_names(cameras, self.cameras)

    def task_ids(self, suite: str) -> range:
        check_choice("suite", suite, self.suites)
        return range(self.suites[suite].n_tasks)

    def max_steps(self, suite: str, protocol: str | None = None) -> int:
        """Step limit of ``suite`` under ``protocol`` (default: the benchmark's default protocol)."""
        check_choice("suite", suite, self.suites)
        protocol = protocol or self.default_protocol
        check_choice("protocol", protocol, self.protocols)
        return self.protocols[protocol].max_steps[suite]

    def features(self, image_size: int, images: bool = True) -> dict[str, dict[str, Any]]:
        """The LeRobotDataset feature schema of a recorded demonstration: each camera as an
        ``image_size`` square image (none without ``images``), ``state`` and ``actions``."""
        image = {
            "dtype": "image",
            "shape": (image_size, image_size, 3),
            "names": ["height", "width", "channel"],
        }
        cameras = {name: dict(image) for name in self.cameras} if images else {}
        return {
            **cameras,
            "state": {"dtype": "float32", "shape": (self.state_dim,), "names": ["state"]},
            "actions": {"dtype": "float32", "shape": (self.action.dim,), "names": ["actions"]},
        }

    # -- what an implementation provides
    @abstractmethod
    def instruction(self, suite: str, task_id: int) -> str:
        """A task's language instruction, without building its simulator."""

    @abstractmethod
    def make_env(
        self,
        suite: str,
        task_id: int,
        *,
        image_size: int = 256,
        seed: int = 0,
        cameras: tuple[str, ...] | None = None,
    ) -> BenchmarkEnv:
        """One task's environment rendering ``cameras`` (default: all of the benchmark's; ``()``: none)."""

    def gripper_at_end(self, state: Sequence[float]) -> str | None:
        """How the gripper ended an episode, read from its last proprioceptive ``state``: one of
        :data:`GRIPPER_END_STATES` (``closed``: shut on nothing, ``partly_closed``: on an object or still
        moving, ``open``), or ``None`` when the benchmark's state does not tell. Evaluation counts its failed
        episodes by it: a policy whose failures end ``closed`` misses its grasps."""
        return None

    def make_expert(self) -> Controller | None:
        """The privileged-state expert that solves tasks (for demonstrations and baselines), or ``None``."""
        return None

    def make_scripted(self) -> Controller | None:
        """A simple scripted controller (smoke tests, skeleton data; need not solve tasks), or ``None``."""
        return None


def check_camera_names(cameras: tuple[str, ...] | list[str], available: Mapping[str, str]) -> tuple[str, ...]:
    """``cameras`` as a tuple, each one of ``available`` and named at most once (ConfigError otherwise)."""
    cameras = tuple(cameras)
    for camera in cameras:
        check_choice("camera", camera, available)
    check(len(set(cameras)) == len(cameras), "cameras", cameras, "each camera at most once")
    return cameras


#: The protocol ``vla eval`` uses unless told: lerobot-eval's settings, a name every benchmark defines.
DEFAULT_PROTOCOL = "lerobot"


# ------------------------------------------------------------------------------------------ registration
B = TypeVar("B", bound=type[Benchmark])
_REGISTRY: dict[str, type[Benchmark]] = {}
_INSTANCES: dict[str, Benchmark] = {}


def register_benchmark(name: str) -> Callable[[B], B]:
    """Class decorator: register a :class:`Benchmark` subclass under ``name`` (and set its ``name``).

    Its suites must not collide with another benchmark's: a suite name alone picks a benchmark.
    """

    def decorate(cls: B) -> B:
        if not (isinstance(cls, type) and issubclass(cls, Benchmark)):
            raise TypeError(f"@register_benchmark({name!r}) decorates a Benchmark subclass, not {cls!r}")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"benchmark {name!r} is already registered ({_REGISTRY[name].__qualname__})")
        for other, registered in _REGISTRY.items():
            shared = set(cls.suites) & set(registered.suites)
            if other != name and shared:
                raise ValueError(f"benchmark {name!r} reuses suite names of {other!r}: {sorted(shared)}")
        check(cls.default_protocol in cls.protocols, "default_protocol", cls.default_protocol,
              f"one of {sorted(cls.protocols)}")  # fmt: skip
        cls.name = name
        _REGISTRY[name] = cls
        _INSTANCES.pop(name, None)
        return cls

    return decorate


def all_cameras() -> dict[str, str]:
    """Every camera name some registered benchmark renders (name -> what it shows)."""
    return {name: view for cls in _REGISTRY.values() for name, view in cls.cameras.items()}


def benchmark_names() -> list[str]:
    """Names of the registered benchmarks, in registration order."""
    return list(_REGISTRY)


def get_benchmark(name: str) -> Benchmark:
    """The registered benchmark ``name`` (one shared instance); a ConfigError names the registered ones."""
    check_choice("benchmark", name, _REGISTRY)
    if name not in _INSTANCES:
        _INSTANCES[name] = _REGISTRY[name]()
    return _INSTANCES[name]


def benchmark_for_suite(suite: str) -> Benchmark:
    """The registered benchmark that has ``suite``; a ConfigError lists every known suite."""
    for name, cls in _REGISTRY.items():
        if suite in cls.suites:
            return get_benchmark(name)
    check_choice("suite", suite, SUITES)
    raise AssertionError("unreachable")  # check_choice raised


class _SuiteTable(Mapping[str, SuiteProtocol]):
    """Every registered benchmark's suites in one read-only mapping, live (later registrations show)."""

    def __getitem__(self, suite: str) -> SuiteProtocol:
        for cls in _REGISTRY.values():
            if suite in cls.suites:
                return cls.suites[suite]
        raise KeyError(suite)

    def __iter__(self) -> Iterator[str]:
        for cls in _REGISTRY.values():
            yield from cls.suites

    def __len__(self) -> int:
        return sum(len(cls.suites) for cls in _REGISTRY.values())


class _ProtocolTable(Mapping[str, EvalProtocol]):
    """Protocol name -> one :class:`EvalProtocol` whose step limits cover every benchmark that defines a
    protocol of that name (a suite belongs to one benchmark, so the merge never conflicts)."""

    def __getitem__(self, name: str) -> EvalProtocol:
        found = [cls.protocols[name] for cls in _REGISTRY.values() if name in cls.protocols]
        if not found:
            raise KeyError(name)
        if len(found) == 1:
            return found[0]
        steps = {suite: n for protocol in found for suite, n in protocol.max_steps.items()}
        first = found[0]
        return EvalProtocol(first.name, steps, first.actions_per_chunk, first.source, first.notes)

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for cls in _REGISTRY.values():
            seen.update(dict.fromkeys(cls.protocols))
        return iter(seen)

    def __len__(self) -> int:
        return len(list(iter(self)))


#: Every registered suite -> its :class:`SuiteProtocol` (across benchmarks).
SUITES: Mapping[str, SuiteProtocol] = _SuiteTable()
#: Every protocol name -> its :class:`EvalProtocol`, step limits merged across benchmarks.
PROTOCOLS: Mapping[str, EvalProtocol] = _ProtocolTable()


def check_suite_task(suite: str, task_id: int) -> None:
    """``suite`` is a registered suite and ``task_id`` one of its tasks (ConfigError otherwise)."""
    benchmark_for_suite(suite).check_suite_task(suite, task_id)


def task_instruction(suite: str, task_id: int) -> str:
    """A task's language instruction, from whichever benchmark has ``suite``."""
    return benchmark_for_suite(suite).instruction(suite, task_id)
