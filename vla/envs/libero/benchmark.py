"""LIBERO as a :class:`vla.envs.base.Benchmark`: its tables, its tasks' files and what it builds.

A LIBERO-based benchmark (the same robot, cameras and simulator; other BDDL files or initial states, e.g.
perturbed suites) subclasses :class:`LiberoBenchmark`, overrides the tables and the two hooks
:meth:`LiberoBenchmark.libero_task` and :meth:`LiberoBenchmark.libero_init_states`, and registers itself.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from vla.envs.base import ActionLayout, Benchmark, register_benchmark
from vla.envs.libero.env import ACTION_DIM, CAMERAS, STATE_DIM, LiberoEnv
from vla.envs.libero.protocol import DEFAULT_PROTOCOL, PROTOCOL, PROTOCOLS, SETTLE_STEPS

#: Panda finger gap (the difference of the two finger joints, metres): about 0.001 when the fingers shut on
#: nothing, 0.072-0.08 wide open, 0.02-0.03 around libero_object's cans (measured on that suite's failed
#: episodes). An object thinner than 1 cm held at the end (a plate's or a bowl's rim) would read "closed".
FINGER_GAP_CLOSED = 0.01
FINGER_GAP_OPEN = 0.07


@dataclass(frozen=True)
class LiberoTask:
    """What builds one task's scene: its instruction and the BDDL problem file."""

    language: str
    bddl_file: str


@register_benchmark("libero")
class LiberoBenchmark(Benchmark):
    """The LIBERO suites (spatial, object, goal, 10, 90) with the public protocol and datasets' layout."""

    suites = PROTOCOL
    protocols = PROTOCOLS
    default_protocol = DEFAULT_PROTOCOL
    settle_steps = SETTLE_STEPS
    cameras = CAMERAS
    observation_notes = {
        "image_rotation_deg": 180,
        "state": "eef position (3) + axis-angle (3) + gripper qpos (2)",
    }
    state_dim = STATE_DIM
    #: delta end-effector position (3) and axis-angle rotation (3), then the gripper (-1 open, +1 close)
    action: ClassVar[ActionLayout] = ActionLayout(
        ACTION_DIM, gripper_index=-1, gripper_open=-1.0, gripper_closed=1.0,
        names=("x", "y", "z", "roll", "pitch", "yaw", "gripper"),
    )  # fmt: skip
    fps = 10
    robot_type = "panda"

    def gripper_at_end(self, state: Sequence[float]) -> str | None:
        if len(state) != STATE_DIM:
            return None
        gap = float(state[6]) - float(state[7])  # the two finger joints open in opposite directions
        if gap < FINGER_GAP_CLOSED:
            return "closed"
        return "open" if gap > FINGER_GAP_OPEN else "partly_closed"

    # -- the hooks a LIBERO-based benchmark overrides
    def _libero_suite(self, suite: str):
        from vla.envs.libero.setup import ensure_libero

        ensure_libero()
        from libero.libero import benchmark

        with contextlib.redirect_stdout(io.StringIO()):  # LIBERO prints "[info] using task orders ..."
            return benchmark.get_benchmark_dict()[suite]()

    def libero_task(self, suite: str, task_id: int) -> LiberoTask:
        """The task's instruction and BDDL file, from LIBERO's own benchmark table."""
        self.check_suite_task(suite, task_id)
        task = self._libero_suite(suite).get_task(task_id)  # after ensure_libero: LIBERO may be imported
        from libero.libero import get_libero_path

        bddl = os.path.join(get_libero_path("bddl_files"), task.problem_folder, task.bddl_file)
        return LiberoTask(task.language, bddl)

    def libero_init_states(self, suite: str, task_id: int) -> np.ndarray:
        """The task's fixed initial states (one flattened MuJoCo state per evaluation episode)."""
        self.check_suite_task(suite, task_id)
        return self._libero_suite(suite).get_task_init_states(task_id)

    # -- the Benchmark interface
    def instruction(self, suite: str, task_id: int) -> str:
        return self.libero_task(suite, task_id).language

    def make_env(
        self,
        suite: str,
        task_id: int,
        *,
        image_size: int = 256,
        seed: int = 0,
        cameras: tuple[str, ...] | None = None,
    ) -> LiberoEnv:
        cameras = tuple(self.cameras) if cameras is None else tuple(cameras)
        return self.env_class(suite)(suite, task_id, image_size, seed, cameras=cameras, benchmark=self)

    def env_class(self, suite: str) -> type[LiberoEnv]:
        """The environment class of ``suite``'s tasks (a LIBERO-based benchmark may subclass the env)."""
        return LiberoEnv

    def make_expert(self):
        from vla.envs.libero.expert import LiberoExpert

        return LiberoExpert()

    def make_scripted(self):
        from vla.envs.libero.scripted import ScriptedReachGrasp

        return ScriptedReachGrasp()
