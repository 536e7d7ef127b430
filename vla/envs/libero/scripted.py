"""A minimal scripted reach-grasp-lift controller from privileged object positions.

It moves above the task's first object of interest, descends, closes the gripper and lifts. It records
real, smooth, goal-directed simulator trajectories for the walking skeleton; it does not place objects,
so it rarely completes a task (the data issue's expert does).
"""

from __future__ import annotations

import numpy as np

#: robosuite's OSC controller maps an action of 1.0 to this many metres per step.
POSITION_SCALE = 0.05


class ScriptedReachGrasp:
    def __init__(self, hover: float = 0.08, tolerance: float = 0.01) -> None:
        self.hover, self.tolerance = hover, tolerance
        self.phase, self.counter = "above", 0

    def reset(self, env=None) -> None:
        """Start a new episode (``env`` unused: the controller reads positions at each ``act``)."""
        self.phase, self.counter = "above", 0

    def act(self, env) -> np.ndarray:
        target_obj = env.object_position(env.objects_of_interest[0])
        eef = env.eef_position()
        gripper = -1.0
        if self.phase == "above":
            target = target_obj + np.array([0.0, 0.0, self.hover])
            if np.linalg.norm(target - eef) < self.tolerance:
                self.phase = "descend"
        if self.phase == "descend":
            target = target_obj + np.array([0.0, 0.0, 0.01])
            if np.linalg.norm(target - eef) < self.tolerance:
                self.phase = "grasp"
        if self.phase == "grasp":
            target, gripper = eef, 1.0
            self.counter += 1
            if self.counter > 8:
                self.phase = "lift"
        if self.phase == "lift":
            target, gripper = eef + np.array([0.0, 0.0, 0.03]), 1.0
        delta = np.clip((target - eef) / POSITION_SCALE, -1.0, 1.0)
        return np.concatenate([delta, np.zeros(3), [gripper]])
