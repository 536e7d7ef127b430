"""A thin LIBERO environment: the standard protocol's observation and reset conventions in one place.

Observations follow the public LIBERO datasets: ``image`` (agentview) and ``wrist_image`` rotated 180
degrees, 8-D ``state`` = end-effector position (3) + axis-angle rotation (3) + gripper joint positions (2).
Actions are 7-D: delta end-effector pose (6) and gripper (-1 open, +1 close).

Rendering is most of a step's cost on a CPU (about 125 ms per camera, against ~20 ms of physics), so an
environment renders only the cameras it is asked for (a policy that reads privileged state gets none and
MuJoCo's offscreen renderer is not even created), and only on the steps whose images are used: ``step`` and
``reset`` take the cameras to render for the observation they return. A policy that executes chunks of 10
actions needs images on one step in 10. Skipping a render changes nothing else: robosuite still samples
its camera observables on the same physics sub-step (only the sensor call is skipped), and rendering never
touches the simulation state, so the images that are rendered, the states and the successes are exactly
those of rendering every step (tested).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from vla.config import check
from vla.envs.base import check_camera_names

if TYPE_CHECKING:
    from vla.envs.libero.benchmark import LiberoBenchmark

STATE_DIM = 8
ACTION_DIM = 7
#: Std (rad) of the Gaussian noise on the robot's initial joints of a random placement (robosuite default).
ROBOT_INIT_NOISE = 0.02
NOOP_ACTION = np.array([0, 0, 0, 0, 0, 0, -1], dtype=np.float64)
#: Observation image names (the public datasets' features) -> robosuite camera names.
CAMERAS: dict[str, str] = {"image": "agentview", "wrist_image": "robot0_eye_in_hand"}


def check_cameras(cameras: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """LIBERO observation image names (``CAMERAS``), each at most once."""
    return check_camera_names(cameras, CAMERAS)


def quat_to_axis_angle(quat_xyzw: np.ndarray) -> np.ndarray:
    """robosuite quaternion (x, y, z, w) -> axis-angle vector (3,), as the public datasets store it."""
    q = np.asarray(quat_xyzw, dtype=np.float64).copy()
    q[3] = np.clip(q[3], -1.0, 1.0)
    den = math.sqrt(max(1.0 - q[3] * q[3], 0.0))
    if math.isclose(den, 0.0):
        return np.zeros(3)
    return q[:3] * 2.0 * math.acos(q[3]) / den


class LiberoEnv:
    """One LIBERO task. ``reset(episode)`` starts from the benchmark's fixed initial state ``episode``.

    The task's BDDL file, instruction and initial states come from ``benchmark`` (default: the registered
    benchmark that has ``suite``), so a LIBERO-based benchmark needs no environment code of its own.

    ``cameras`` names the observation images to render (``image``, ``wrist_image``), each
    ``image_size`` pixels square; with none, no renderer is created and observations hold ``state`` only.
    """

    def __init__(
        self,
        suite: str,
        task_id: int,
        image_size: int = 256,
        seed: int = 0,
        cameras: tuple[str, ...] = ("image", "wrist_image"),
        benchmark: LiberoBenchmark | None = None,
    ) -> None:
        if benchmark is None:
            from vla.envs.base import benchmark_for_suite

            benchmark = benchmark_for_suite(suite)  # type: ignore[assignment]
        assert benchmark is not None
        benchmark.check_suite_task(suite, task_id)
        self.cameras = benchmark.check_cameras(cameras)
        check(image_size >= 8, "image_size", image_size, "must be >= 8 pixels")
        from vla.envs.libero.setup import ensure_libero

        ensure_libero()
        from libero.libero.envs.env_wrapper import ControlEnv

        self.suite, self.task_id, self.image_size = suite, task_id, image_size
        self.benchmark = benchmark
        task = benchmark.libero_task(suite, task_id)
        self.instruction: str = task.language
        self.bddl_file: str = task.bddl_file
        self.init_states = benchmark.libero_init_states(suite, task_id)
        # ControlEnv is what LIBERO's OffScreenRenderEnv builds, minus its forced offscreen renderer.
        self._env = ControlEnv(
            bddl_file_name=self.bddl_file,
            has_renderer=False,
            has_offscreen_renderer=bool(self.cameras),
            use_camera_obs=bool(self.cameras),
            camera_names=[benchmark.cameras[name] for name in self.cameras],
            camera_heights=image_size,
            camera_widths=image_size,
        )
        self._env.seed(seed)
        self.max_steps = benchmark.suites[suite].max_steps
        self.settle_steps = benchmark.settle_steps
        self._raw: dict[str, Any] = {}
        #: Cameras rendered for the observation being produced (the others' sensors return a blank image).
        self._render_now: frozenset[str] = frozenset(self.cameras)
        self._blank = np.zeros((image_size, image_size, 3), dtype=np.uint8)

    def _render_only_on_demand(self) -> None:
        """Wrap each camera's robosuite sensor so that it renders only when its camera is in ``_render_now``.

        The observable's sampling schedule is untouched, so a rendered image comes from the same physics
        sub-step as always. A hard reset rebuilds the observables, so this runs after every reset.
        """
        robo = self._env.env
        for name in self.cameras:
            observable = robo._observables[f"{self.benchmark.cameras[name]}_image"]
            real = observable._sensor

            def sensor(obs_cache, name=name, real=real):
                return real(obs_cache) if name in self._render_now else self._blank

            sensor.__modality__ = real.__modality__  # what robosuite's @sensor decorator sets
            observable._sensor = sensor

    def _cameras_for(self, cameras) -> frozenset[str]:
        if cameras is None:
            return frozenset(self.cameras)
        unknown = set(cameras) - set(self.cameras)
        if unknown:
            raise ValueError(
                f"cameras {sorted(unknown)} are not rendered by this environment ({self.cameras})"
            )
        return frozenset(cameras)

    @property
    def n_init_states(self) -> int:
        return len(self.init_states)

    def reset(
        self,
        episode: int = 0,
        settle_steps: int | None = None,
        cameras: tuple[str, ...] | None = None,
        seed: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Reset to fixed initial state ``episode`` and let objects settle with no-op steps
        (``settle_steps``, default the benchmark's: 10).

        ``cameras``: the images of the returned observation (default: all of this environment's).
        ``seed``: seeds numpy's global random state before the reset. LIBERO redraws the fixtures' placement
        (cabinets, stoves, racks) from it at every reset and the initial state restores joints only, so
        without a seed the same episode's fixtures move (up to ~2 cm) with what ran before it.
        """
        check(
            0 <= episode < self.n_init_states,
            "episode",
            episode,
            f"0..{self.n_init_states - 1} for this task",
        )
        return self._reset(self.init_state(episode), settle_steps, self._cameras_for(cameras), seed)

    def init_state(self, episode: int) -> np.ndarray:
        """Fixed initial state ``episode`` (a flattened MuJoCo state) that :meth:`reset` restores."""
        return self.init_states[episode]

    def reset_random(
        self, seed: int, settle_steps: int | None = None, cameras: tuple[str, ...] | None = None
    ) -> dict[str, np.ndarray]:
        """Reset to a fresh random placement drawn by LIBERO's own placement samplers from ``seed``.

        This is how training demonstrations avoid the benchmark's 50 evaluation initial states: the
        samplers draw from the same regions, so the scenes look alike, but the states are new (see
        :meth:`distance_to_benchmark_states`). The same seed gives the same placement.
        """
        check(seed >= 0, "seed", seed, "must be >= 0")
        return self._reset(None, settle_steps, self._cameras_for(cameras), seed, joint_noise=True)

    def _reset(
        self,
        init_state: np.ndarray | None,
        settle_steps: int | None,
        wanted: frozenset[str],
        seed: int | None = None,
        joint_noise: bool = False,
    ) -> dict[str, np.ndarray]:
        if settle_steps is None:
            settle_steps = self.settle_steps
        if seed is not None:
            # LIBERO's placement samplers and fixture placement draw from numpy's global state: what LIBERO's
            # own env.seed() does, and lerobot-eval before each reset.
            np.random.seed(seed)
        # robosuite draws the joint noise whatever its magnitude, so the numbers drawn after it (the
        # placements) are the same with and without it.
        noise = {"magnitude": ROBOT_INIT_NOISE if joint_noise else 0.0, "type": "gaussian"}
        robo = self._env.env
        # The joint noise LIBERO's own environments use (robosuite's "default"), which the benchmark's
        # initial states show (joint std ~0.02 rad); a benchmark state overwrites the joints anyway. A hard
        # reset rebuilds the robots from robot_configs, so set it there as well as on the live robots.
        for config in robo.robot_configs:
            config["initialization_noise"] = dict(noise)
        for robot in robo.robots:
            robot.initialization_noise = dict(noise)
        self._raw = self._env.reset()
        self._render_only_on_demand()
        self._render_now = wanted if settle_steps == 0 else frozenset()
        if init_state is not None:
            self._raw = self._env.set_init_state(init_state)
        elif settle_steps == 0:
            self._raw = self._env.env._get_observations(force_update=True)
        self.start_state = np.asarray(self._env.get_sim_state(), dtype=np.float64).copy()
        for step in range(settle_steps):
            self._render_now = wanted if step == settle_steps - 1 else frozenset()
            self._raw, _, _, _ = self._env.step(NOOP_ACTION)
        return self.observation()

    def distance_to_benchmark_states(self, state: np.ndarray | None = None) -> float:
        """Smallest max-abs difference between ``state`` (default: the last reset's start state) and the
        benchmark's fixed initial states, over the simulator's positions (time and velocities left out).

        0 means the episode started from an evaluation state; a random placement is centimetres away.
        """
        state = self.start_state if state is None else np.asarray(state, dtype=np.float64)
        nq = self._env.sim.model.nq
        positions = np.asarray(self.init_states, dtype=np.float64)[:, 1 : 1 + nq]
        return float(np.abs(positions - state[1 : 1 + nq]).max(axis=1).min())

    def step(
        self, action: np.ndarray, cameras: tuple[str, ...] | None = None
    ) -> tuple[dict[str, np.ndarray], bool]:
        """Apply one 7-D action; returns the new observation and whether the task succeeded.

        ``cameras``: the images of the returned observation (default: all of this environment's).
        """
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (ACTION_DIM,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be {ACTION_DIM} finite values, got {action!r}")
        self._render_now = self._cameras_for(cameras)
        self._raw, _, done, _ = self._env.step(np.clip(action, -1.0, 1.0))
        return self.observation(), bool(done) or self.success()

    def success(self) -> bool:
        return bool(self._env.check_success())

    def observation(self) -> dict[str, np.ndarray]:
        raw = self._raw
        state = np.concatenate(
            [raw["robot0_eef_pos"], quat_to_axis_angle(raw["robot0_eef_quat"]), raw["robot0_gripper_qpos"]]
        ).astype(np.float32)
        obs = {
            name: np.ascontiguousarray(raw[f"{self.benchmark.cameras[name]}_image"][::-1, ::-1])
            for name in self.cameras
            if name in self._render_now
        }
        obs["state"] = state
        return obs

    # Privileged simulator state, for scripted experts and tests.
    @property
    def robosuite_env(self) -> Any:
        """LIBERO's robosuite problem environment (objects, sites, fixtures, the MuJoCo simulation)."""
        return self._env.env

    @property
    def sim(self) -> Any:
        """robosuite's MuJoCo simulation (``sim.model``, ``sim.data``)."""
        return self._env.sim

    @property
    def raw_observation(self) -> dict[str, Any]:
        """robosuite's last observation dict, unconverted (privileged)."""
        return self._raw

    def object_position(self, name: str) -> np.ndarray:
        return np.asarray(self._raw[f"{name}_pos"], dtype=np.float64)

    def eef_position(self) -> np.ndarray:
        return np.asarray(self._raw["robot0_eef_pos"], dtype=np.float64)

    def eef_quaternion(self) -> np.ndarray:
        """End-effector orientation, robosuite's quaternion (x, y, z, w)."""
        return np.asarray(self._raw["robot0_eef_quat"], dtype=np.float64)

    def gripper_qpos(self) -> np.ndarray:
        """The two gripper finger joint positions."""
        return np.asarray(self._raw["robot0_gripper_qpos"], dtype=np.float64)

    @property
    def objects_of_interest(self) -> list[str]:
        return list(self._env.env.obj_of_interest)

    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> LiberoEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
