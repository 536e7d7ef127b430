"""The Benchmark registry and the shared rollout loop (no simulator: a fake environment)."""

import numpy as np
import pytest

from vla.config import ConfigError
from vla.envs import (
    PROTOCOLS,
    SUITES,
    Benchmark,
    EvalProtocol,
    SuiteProtocol,
    benchmark_for_suite,
    benchmark_names,
    get_benchmark,
    register_benchmark,
)
from vla.envs import base as envs_base
from vla.envs.libero import LiberoBenchmark
from vla.envs.rollout import reset_episode, rollout


def test_benchmarks_are_found_by_name_and_by_suite():
    assert "libero" in benchmark_names()
    libero = get_benchmark("libero")
    assert isinstance(libero, LiberoBenchmark) and libero.name == "libero"
    assert get_benchmark("libero") is libero  # one shared instance
    for suite in ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90"):
        assert benchmark_for_suite(suite) is libero
        assert SUITES[suite] is libero.suites[suite]
    assert libero.max_steps("libero_spatial") == 280 and libero.max_steps("libero_spatial", "openpi") == 220
    assert (
        PROTOCOLS["openpi"].max_steps["libero_spatial"] == 220
        and PROTOCOLS["lerobot"].actions_per_chunk is None
    )


def test_unknown_names_are_refused_naming_the_allowed_ones():
    with pytest.raises(ConfigError, match="benchmark='nope' is invalid: expected one of .*'libero'"):
        get_benchmark("nope")
    with pytest.raises(ConfigError, match="suite='nope' is invalid: expected one of .*'libero_object'"):
        benchmark_for_suite("nope")
    with pytest.raises(ConfigError, match="task_id=10 is invalid: libero_object has tasks 0..9"):
        get_benchmark("libero").check_suite_task("libero_object", 10)
    with pytest.raises(ConfigError, match="camera='top' is invalid"):
        get_benchmark("libero").check_cameras(("image", "top"))


def test_libero_describes_its_layout_and_the_public_dataset_schema():
    libero = get_benchmark("libero")
    assert libero.state_dim == 8 and libero.action.dim == 7 and libero.settle_steps == 10
    assert libero.action.gripper_index % 7 == 6 and (
        libero.action.gripper_open,
        libero.action.gripper_closed,
    ) == (-1, 1)
    np.testing.assert_array_equal(libero.action.noop, [0, 0, 0, 0, 0, 0, -1])
    assert libero.action.motion_dims == [0, 1, 2, 3, 4, 5]
    assert dict(libero.cameras) == {"image": "agentview", "wrist_image": "robot0_eye_in_hand"}
    image = {"dtype": "image", "shape": (32, 32, 3), "names": ["height", "width", "channel"]}
    assert libero.features(32) == {
        "image": image,
        "wrist_image": image,
        "state": {"dtype": "float32", "shape": (8,), "names": ["state"]},
        "actions": {"dtype": "float32", "shape": (7,), "names": ["actions"]},
    }
    assert list(libero.features(32, images=False)) == ["state", "actions"]
    assert libero.make_expert() is not None and libero.make_scripted() is not None


@pytest.fixture
def clean_registry():
    registry, instances = dict(envs_base._REGISTRY), dict(envs_base._INSTANCES)
    yield
    envs_base._REGISTRY.clear(), envs_base._REGISTRY.update(registry)
    envs_base._INSTANCES.clear(), envs_base._INSTANCES.update(instances)


class _Toy(Benchmark):
    suites = {"toy_suite": SuiteProtocol(max_steps=5, n_tasks=2, n_init_states=3)}
    protocols = {"lerobot": EvalProtocol("lerobot", {"toy_suite": 4}, None, "a test")}
    default_protocol = "lerobot"

    def instruction(self, suite, task_id):
        return f"toy task {task_id}"

    def make_env(self, suite, task_id, *, image_size=256, seed=0, cameras=None):
        raise NotImplementedError


def test_a_new_benchmark_registers_with_the_decorator(clean_registry):
    register_benchmark("toy")(_Toy)
    assert get_benchmark("toy").name == "toy" and benchmark_for_suite("toy_suite").name == "toy"
    assert get_benchmark("toy").instruction("toy_suite", 1) == "toy task 1"
    # its protocol rows join the merged table without touching LIBERO's
    assert (
        PROTOCOLS["lerobot"].max_steps["toy_suite"] == 4
        and PROTOCOLS["lerobot"].max_steps["libero_10"] == 520
    )
    assert "toy_suite" in SUITES and len(SUITES) == len(list(SUITES))

    class Clash(_Toy):
        suites = {"libero_object": SuiteProtocol(1, 1)}

    with pytest.raises(ValueError, match="reuses suite names of 'libero'"):
        register_benchmark("clash")(Clash)
    with pytest.raises(ValueError, match="already registered"):
        register_benchmark("toy")(type("Other", (_Toy,), {"suites": {}}))
    with pytest.raises(TypeError):
        register_benchmark("not-a-benchmark")(dict)


class FakeEnv:
    """Counts steps; succeeds at ``succeed_at``; the observation carries the step number."""

    cameras = ("image",)

    def __init__(self, succeed_at=None):
        self.succeed_at, self.t, self.sent, self.rendered, self.resets = succeed_at, 0, [], [], []

    def reset(self, episode=0, settle_steps=None, cameras=None, seed=None):
        self.resets.append(("benchmark", episode, seed, settle_steps, cameras))
        self.t = 0
        return {"state": np.array([0.0])}

    def reset_random(self, seed, settle_steps=None, cameras=None):
        self.resets.append(("random", seed, settle_steps, cameras))
        self.t = 0
        return {"state": np.array([0.0])}

    def step(self, action, cameras=None):
        self.t += 1
        self.sent.append(np.asarray(action).copy())
        self.rendered.append(cameras)
        return {"state": np.array([float(self.t)])}, self.t == self.succeed_at


def test_rollout_stops_at_success_or_at_the_step_limit():
    env = FakeEnv(succeed_at=3)
    seen = []
    result = rollout(env, {"state": np.array([0.0])}, lambda obs: np.array([obs["state"][0]]), 10,
                     on_step=lambda obs, action, nxt: seen.append((obs["state"][0], action[0], nxt["state"][0])))  # fmt: skip
    assert (result.success, result.steps, result.observation["state"][0]) == (True, 3, 3.0)
    assert seen == [(0.0, 0.0, 1.0), (1.0, 1.0, 2.0), (2.0, 2.0, 3.0)]  # (observation, its action, next)
    assert env.rendered == [None, None, None]
    env = FakeEnv()
    result = rollout(env, {"state": np.array([0.0])}, lambda obs: np.zeros(1), 4)
    assert (result.success, result.steps) == (False, 4)
    start = {"state": np.array([0.0])}
    assert rollout(env, start, lambda obs: np.zeros(1), 0).observation is start


def test_rollout_executes_what_execute_returns_and_renders_what_cameras_says():
    env = FakeEnv()
    recorded = []
    queue = []

    def act(obs):
        if not queue:
            queue.extend([1.0, 2.0])
        return np.array([queue.pop(0)])

    rollout(env, {"state": np.array([0.0])}, act, 4, execute=lambda a: a + 10,
            cameras=lambda: ("image",) if not queue else (),
            on_step=lambda obs, action, nxt: recorded.append(action[0]))  # fmt: skip
    assert recorded == [1.0, 2.0, 1.0, 2.0]  # callbacks see the policy's action
    assert [a[0] for a in env.sent] == [11.0, 12.0, 11.0, 12.0]  # the simulator gets the executed one
    assert env.rendered == [(), ("image",), (), ("image",)]  # asked after act: the queue is already popped


def test_reset_episode_starts_from_an_initial_state_or_a_placement():
    env = FakeEnv()
    reset_episode(env, episode=3, seed=1003)
    reset_episode(env, placement_seed=42, settle_steps=0)
    assert env.resets == [("benchmark", 3, 1003, None, None), ("random", 42, 0, None)]
    with pytest.raises(ValueError, match="exactly one"):
        reset_episode(env)
    with pytest.raises(ValueError, match="exactly one"):
        reset_episode(env, episode=0, placement_seed=1)
    with pytest.raises(ValueError, match="placement_seed"):
        reset_episode(env, placement_seed=1, seed=2)
