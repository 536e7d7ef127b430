"""The real LIBERO simulator, headless and offline."""

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.libero


def test_setup_is_idempotent_and_offline():
    from vla.envs.libero.setup import ensure_libero

    first = ensure_libero()
    stamp = first.config_file.stat().st_mtime_ns
    second = ensure_libero()
    assert second == first and first.config_file.stat().st_mtime_ns == stamp  # nothing rewritten
    config = yaml.safe_load(first.config_file.read_text())
    assert config["assets"] == str(first.assets_dir)
    assert (first.assets_dir / "scenes").is_dir() and (first.assets_dir / "stable_scanned_objects").is_dir()


def test_missing_gl_libraries_name_the_debian_packages(monkeypatch):
    from vla.envs.libero import setup

    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setattr(setup.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(
        setup.LiberoSetupError, match="apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri"
    ):
        setup.choose_gl_backend()


@pytest.fixture(scope="module")
def env():
    from vla.envs.libero.env import LiberoEnv

    with LiberoEnv("libero_object", 0) as env:
        yield env


def test_observation_follows_the_public_schema(env):
    obs = env.reset(0)
    assert obs["image"].shape == (256, 256, 3) and obs["image"].dtype == np.uint8
    assert obs["wrist_image"].shape == (256, 256, 3)
    assert obs["state"].shape == (8,)
    assert env.n_init_states == 50 and env.max_steps == 280
    assert "alphabet soup" in env.instruction
    # state = eef position + axis-angle + gripper qpos, as the datasets store it
    np.testing.assert_allclose(obs["state"][:3], env.eef_position(), atol=1e-6)
    # the fixed initial states differ between episodes
    other = env.reset(1)
    assert not np.allclose(other["state"], obs["state"]) or not np.array_equal(other["image"], obs["image"])


def test_random_placements_are_seeded_and_never_an_evaluation_state(env):
    from vla.data.record import MIN_DISTANCE_TO_EVAL_STATES

    env.reset(7)
    assert env.distance_to_benchmark_states() == 0.0  # the guard sees an evaluation state
    first = env.reset_random(11)
    start = env.start_state.copy()
    assert env.distance_to_benchmark_states() >= MIN_DISTANCE_TO_EVAL_STATES
    again = env.reset_random(11)
    np.testing.assert_array_equal(env.start_state, start)  # same seed, same placement and robot joints
    np.testing.assert_array_equal(again["state"], first["state"])
    env.reset_random(12)
    assert np.abs(env.start_state - start).max() > 1e-3
    # the robot's joints get LIBERO's own initialization noise, as in the benchmark's states
    nq = env.sim.model.nq
    joints = [env.reset_random(seed) is not None and env.start_state[1:8].copy() for seed in range(13, 17)]
    benchmark_joints = np.asarray(env.init_states)[:, 1:8]
    assert 0.005 < np.std(joints, axis=0).mean() < 0.05 and 0.005 < benchmark_joints.std(0).mean() < 0.05
    assert nq > 8


def test_moving_the_object_into_its_goal_is_detected_as_success(env):
    env.reset(0)
    assert not env.success()
    sim = env.sim
    soup = env.robosuite_env.objects_dict["alphabet_soup_1"]
    basket = env.object_position("basket_1")
    qpos = sim.data.get_joint_qpos(soup.joints[-1]).copy()
    qpos[:3] = basket + np.array([0.0, 0.0, 0.05])
    sim.data.set_joint_qpos(soup.joints[-1], qpos)
    sim.forward()
    success = False
    for _ in range(20):  # let it fall into the basket
        _, success = env.step(np.array([0, 0, 0, 0, 0, 0, -1.0]))
        if success:
            break
    assert success


def test_invalid_actions_and_tasks_are_rejected(env):
    from vla.config import ConfigError
    from vla.envs.libero.env import LiberoEnv

    env.reset(0)
    with pytest.raises(ValueError, match="7 finite values"):
        env.step(np.array([0.0, np.nan, 0, 0, 0, 0, 0]))
    with pytest.raises(ConfigError, match="task_id=10 is invalid"):
        LiberoEnv("libero_spatial", 10)
