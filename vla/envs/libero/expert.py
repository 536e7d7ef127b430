"""A scripted LIBERO expert that reads the task's goal from its BDDL file and solves it from privileged state.

Why privileged state: demonstrations for imitation learning must be correct and reproducible, and the
simulator knows every object's pose exactly. The expert never looks at images or the instruction text:
each ``(:goal ...)`` predicate becomes a sequence of waypoints (move above, descend, grasp, lift, carry,
descend, release, retreat) tracked by a clipped proportional controller on the end-effector position while
a small proportional term holds the gripper's start orientation. Everything is deterministic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vla.envs.libero.bddl import PLACING, GoalPredicate, order_goals, task_goal
from vla.envs.libero.geometry import (
    Joint,
    footprint,
    geom_boxes,
    knob_bar,
    object_box,
    obstacle_top,
    site_position,
)

#: robosuite's OSC controller maps an action of 1.0 to a goal this many metres / radians away.
POSITION_SCALE = 0.05
ROTATION_SCALE = 0.5
GRIPPER_OPEN, GRIPPER_CLOSED = -1.0, 1.0
#: The Panda gripper integrates the sign of its command: 0 keeps the fingers where they are.
GRIPPER_HOLD = 0.0
#: End-effector motion per step (m) below which the arm counts as stopped at a waypoint.
MAX_SETTLED_SPEED = 0.004

#: Panda gripper geometry around the grip site (the end-effector position), measured from its collision
#: meshes, in metres. Along the closing axis a fully open finger's inner face is ``FINGER_OPEN`` from the
#: site (about the finger joint's position); its lower ``FINGER_TIP_HEIGHT`` is ``FINGER_TIP_THICKNESS``
#: thick and reaches ``FINGER_BELOW`` under the site, the part above is ``FINGER_UPPER_THICKNESS`` thick.
#: Across the closing axis a finger is ``2 * FINGER_HALF_WIDTH`` wide. The hand spans ``HAND_HALF_SPAN``
#: along the closing axis, ``HAND_HALF_WIDTH`` across, from ``HAND_ABOVE`` over the site upwards.
FINGER_OPEN = 0.039
FINGER_BELOW = 0.013
FINGER_TIP_HEIGHT = 0.02
FINGER_TIP_THICKNESS = 0.014
FINGER_UPPER_THICKNESS = 0.026
FINGER_HALF_WIDTH = 0.012
HAND_HALF_SPAN, HAND_HALF_WIDTH, HAND_ABOVE = 0.1, 0.035, 0.024
#: Narrower finger openings tried when a fully open gripper does not fit around a grasp.
NARROW_OPENINGS = (0.032, 0.026)
#: Vertical clearance kept between the gripper (or a held object) and obstacles.
CLEARANCE = 0.004
TRANSIT_CLEARANCE = 0.02


def category(name: str) -> str:
    """``akita_black_bowl_1`` -> ``akita_black_bowl``: per-object constants are keyed by category."""
    return re.sub(r"_\d+$", "", name)


# ------------------------------------------------------------------------------------ per-object constants
@dataclass(frozen=True)
class GraspSpec:
    """How to grasp an object from above.

    ``depth``: how far below the object's top the fingertip centre goes (capped at 60% of its height).
    ``rim``: grasp the wall of a bowl-like object instead of its centre (fingers straddle the rim),
    offset from the centre along the finger-closing axis by half the width minus ``rim_inset``.
    """

    depth: float = 0.03
    rim: bool = False
    rim_inset: float = 0.015


GRASP: dict[str, GraspSpec] = {
    "akita_black_bowl": GraspSpec(depth=0.02, rim=True),
    "plate": GraspSpec(depth=0.01, rim=True, rim_inset=0.01),
    "butter": GraspSpec(depth=0.02),
    "cream_cheese": GraspSpec(depth=0.02),
    "chocolate_pudding": GraspSpec(depth=0.025),
}
DEFAULT_GRASP = GraspSpec()


# ------------------------------------------------------------------------------------------- the expert
Target = Callable[["object"], np.ndarray]


@dataclass
class Waypoint:
    """Drive the end effector to ``target`` (resolved from the state when the waypoint starts)."""

    name: str
    target: Target
    gripper: float | Callable[[object], float]  # a command, or one computed from the state each step
    tolerance: float = 0.01
    hold: int = 0  # steps to stay once reached (let the gripper close or open)
    timeout: int = 80
    on_done: Callable[[object], None] | None = None
    until: Callable[[object], bool] | None = None  # done as soon as this holds, reached or not
    resolved: np.ndarray | None = field(default=None, repr=False)


class LiberoExpert:
    """Deterministic scripted expert for LIBERO tasks whose goals are In/On/Open/Close/TurnOn predicates.

    ``reset(env)`` after every ``env.reset``; then ``act(env)`` returns one 7-D action per step.
    """

    def __init__(self, gain: float = 2.0, hover: float = 0.08, max_retries: int = 2) -> None:
        self.gain, self.hover, self.max_retries = gain, hover, max_retries
        self.goals: list[GoalPredicate] = []
        self.queue: list[Waypoint] = []
        self.reference_rotation: np.ndarray | None = None
        self.steps_in_waypoint = self.held = 0
        self.retries = 0
        self.last_eef: np.ndarray | None = None

    # -- episode control
    def reset(self, env) -> None:
        from robosuite.utils.transform_utils import quat2mat

        self.goals = task_goal(env)
        self.reference_rotation = quat2mat(env.eef_quaternion())
        self.queue, self.retries = [], 0
        self.steps_in_waypoint = self.held = 0
        self.last_eef: np.ndarray | None = None
        self._pending = order_goals(self.goals)
        self._implied: set[GoalPredicate] = set()

    def act(self, env) -> np.ndarray:
        eef = env.eef_position()
        while not self.queue and self._pending:
            goal = self._pending.pop(0)
            first = self._precondition(env, goal)
            if first is not None and first not in self._implied:  # e.g. open a drawer before filling it
                self._implied.add(first)
                self._pending[:0] = [first, goal]
                continue
            self.queue = self.plan(env, goal)
        if not self.queue:  # all goals planned and executed: hold still
            return self._action(eef, eef, GRIPPER_OPEN, env)
        waypoint = self.queue[0]
        if waypoint.resolved is None:
            waypoint.resolved = np.asarray(waypoint.target(env), dtype=np.float64)
            self.steps_in_waypoint = self.held = 0
        self.steps_in_waypoint += 1
        speed = 0.0 if self.last_eef is None else float(np.linalg.norm(eef - self.last_eef))
        self.last_eef = eef
        # Arriving fast overshoots: a waypoint counts as reached only once the arm has nearly stopped.
        reached = np.linalg.norm(waypoint.resolved - eef) < waypoint.tolerance and speed < MAX_SETTLED_SPEED
        if reached or self.held:
            self.held += 1
        finished = waypoint.until is not None and waypoint.until(env)
        gripper = waypoint.gripper(env) if callable(waypoint.gripper) else waypoint.gripper
        if finished or (self.held > waypoint.hold) or self.steps_in_waypoint > waypoint.timeout:
            self.queue.pop(0)
            if waypoint.on_done is not None:
                waypoint.on_done(env)
        return self._action(eef, waypoint.resolved, gripper, env)

    def _action(self, eef: np.ndarray, target: np.ndarray, gripper: float, env) -> np.ndarray:
        from robosuite.utils.transform_utils import quat2axisangle, quat2mat

        translation = np.clip(self.gain * (target - eef) / POSITION_SCALE, -1.0, 1.0)
        current = quat2mat(env.eef_quaternion())
        error = self.reference_rotation @ current.T  # world-frame rotation from current to reference
        rotation = np.clip(_rotation_vector(error, quat2axisangle) / ROTATION_SCALE, -0.5, 0.5)
        return np.concatenate([translation, rotation, [gripper]])

    # -- planning
    @staticmethod
    def _precondition(env, goal: GoalPredicate) -> GoalPredicate | None:
        """A goal the BDDL leaves implicit: putting something into a closed drawer needs it open first."""
        if goal.predicate not in PLACING or goal.target is None:
            return None
        robo = env.robosuite_env
        site = robo.object_sites_dict.get(goal.target)
        if site is None or not getattr(site, "joints", None):
            return None
        articulation = robo.get_object(site.parent_name).object_properties.get("articulation", {})
        if not articulation.get("default_open_ranges") or robo.object_states_dict[goal.target].is_open():
            return None
        return GoalPredicate("open", goal.target)

    def plan(self, env, goal: GoalPredicate) -> list[Waypoint]:
        planner = PLANNERS.get(goal.predicate)
        if planner is None:
            raise NotImplementedError(f"no plan for goal predicate {goal.predicate!r}")
        return planner(self, env, goal)

    def pick_and_place(self, env, goal: GoalPredicate) -> list[Waypoint]:
        """Top-down grasp of ``goal.subject``, carry above ``goal.target``, lower and release.

        Moves between the two go over obstacles (``_transit``); a rim grasp picks the side, inset and
        finger opening that fit between the obstacles around the object (``_grasp_point``).
        """
        subject, target = goal.subject, goal.target
        spec = GRASP.get(category(subject), DEFAULT_GRASP)
        grasp, opening = self._grasp_point(env, subject, spec)
        approach = GRIPPER_OPEN if opening >= FINGER_OPEN else GRIPPER_HOLD
        box = object_box(env, subject)
        below_grasp = grasp[2] - box.bottom  # object length hanging under the fingertips
        target_top, target_xy = self._target_surface(env, target)
        carry_z = max(target_top + below_grasp + 0.06, grasp[2] + 0.12)
        offset = {}

        def above_object(_env) -> np.ndarray:
            return grasp + [0.0, 0.0, self.hover]

        def lift(e) -> np.ndarray:
            eef = e.eef_position()
            return np.array([eef[0], eef[1], carry_z])

        def remember_hold_offset(e) -> None:
            offset["xy"] = e.eef_position()[:2] - object_box(e, subject).center[:2]
            offset["below"] = e.eef_position()[2] - object_box(e, subject).bottom

        def above_target(_e) -> np.ndarray:
            return np.array([*(target_xy + offset["xy"]), carry_z])

        def release_point(_e) -> np.ndarray:
            return np.array([*(target_xy + offset["xy"]), target_top + offset["below"] + 0.015])

        def check_grasp(e) -> None:
            lifted = object_box(e, subject).bottom > box.bottom + 0.03
            if not lifted and self.retries < self.max_retries:
                self.retries += 1
                self.queue[:] = self.pick_and_place(e, goal)

        narrow = [] if approach == GRIPPER_OPEN else [self._set_opening(opening)]
        return [
            *narrow,
            *self._transit(above_object, (subject,), approach),
            Waypoint("above object", above_object, approach, tolerance=0.01, timeout=60),
            Waypoint("descend", lambda _e: grasp, approach, tolerance=0.008, timeout=40),
            Waypoint("grasp", lambda e: e.eef_position(), GRIPPER_CLOSED, tolerance=1.0, hold=10),
            Waypoint("lift", lift, GRIPPER_CLOSED, tolerance=0.02, timeout=40, on_done=remember_hold_offset),
            Waypoint("check", lambda e: e.eef_position(), GRIPPER_CLOSED, tolerance=1.0, on_done=check_grasp),
            *self._transit(above_target, (subject,), GRIPPER_CLOSED, hanging=lambda: offset["below"]),
            Waypoint("carry", above_target, GRIPPER_CLOSED, tolerance=0.015, timeout=80),
            Waypoint("lower", release_point, GRIPPER_CLOSED, tolerance=0.01, timeout=40),
            Waypoint("release", lambda e: e.eef_position(), GRIPPER_OPEN, tolerance=1.0, hold=8),
            Waypoint("retreat", lambda e: e.eef_position() + [0, 0, 0.08], GRIPPER_OPEN, 0.02, timeout=20),
        ]

    def _transit(
        self,
        destination: Target,
        ignore: tuple[str, ...],
        gripper: float,
        hanging: Callable[[], float] = lambda: FINGER_BELOW,
    ) -> list[Waypoint]:
        """Rise, then move level, where the straight line to ``destination`` would hit an obstacle.

        Both waypoints are resolved from the state when reached; with a clear straight line they
        collapse to the current position and the destination.
        """
        plan: dict[str, float] = {}

        def rise(e) -> np.ndarray:
            start, end = e.eef_position(), np.asarray(destination(e), dtype=np.float64)
            plan["z"] = self._safe_height(e, start, end, ignore, hanging())
            return np.array([*start[:2], max(start[2], plan["z"])])

        def level(e) -> np.ndarray:
            end = np.asarray(destination(e), dtype=np.float64)
            return np.array([*end[:2], max(end[2], plan["z"])])

        return [
            Waypoint("rise", rise, gripper, tolerance=0.015, timeout=40),
            Waypoint("level", level, gripper, tolerance=0.015, timeout=80),
        ]

    def _safe_height(self, env, start, end, ignore: tuple[str, ...], hanging: float) -> float:
        """-inf if the straight line ``start -> end`` clears every obstacle, else a height that does.

        Along the line the fingers (and anything held, ``hanging`` below the grip site) must clear the
        obstacles under the finger span, and the hand those under its wider span.
        """
        axis = self._closing_axis()
        across = np.array([-axis[1], axis[0]])
        fingers = footprint(axis, across, FINGER_OPEN + FINGER_UPPER_THICKNESS, FINGER_HALF_WIDTH + 0.01)
        hand = footprint(axis, across, HAND_HALF_SPAN, HAND_HALF_WIDTH)
        n = max(2, int(np.linalg.norm(end[:2] - start[:2]) / 0.02) + 1)
        needed = []
        for f in np.linspace(0.0, 1.0, n):
            xy = start[:2] + f * (end[:2] - start[:2])
            needed.append(
                max(
                    obstacle_top(env, xy + fingers, ignore) + max(hanging, FINGER_BELOW),
                    obstacle_top(env, xy + hand, ignore) - HAND_ABOVE,
                )
                + TRANSIT_CLEARANCE
            )
        line = start[2] + np.linspace(0.0, 1.0, n) * (end[2] - start[2])
        return -math.inf if np.all(line >= np.array(needed)) else float(max(needed))

    def _set_opening(self, opening: float) -> Waypoint:
        """Open or close the fingers in place until their gap is about ``2 * opening``."""

        def finger(e) -> float:
            q = e.gripper_qpos()
            return float(q[0] - q[1]) / 2

        def command(e) -> float:
            return GRIPPER_CLOSED if finger(e) > opening else GRIPPER_OPEN

        return Waypoint(
            "set opening",
            lambda e: e.eef_position(),
            command,
            tolerance=1.0,
            hold=30,
            timeout=30,
            until=lambda e: abs(finger(e) - opening) < 0.002,
        )

    def turn_knob(self, env, goal: GoalPredicate) -> list[Waypoint]:
        """Turn a hinged knob (the stove) by sweeping the closed gripper along an arc against its bar."""
        joint = Joint.of(env, goal.subject)
        turn = joint.direction_to(env, goal.predicate)
        disc_top, bar = knob_bar(env, joint.body)
        long_axis = np.array([1.0, 0.0]) if bar.size[0] >= bar.size[1] else np.array([0.0, 1.0])
        # Push near the end of the bar that lies farther from the axis (both ends for a centred bar).
        end_offset = long_axis * float(max(bar.size[:2])) / 2
        ends = [
            bar.center[:2] + end_offset - joint.anchor[:2],
            bar.center[:2] - end_offset - joint.anchor[:2],
        ]
        radial = max(ends, key=lambda v: float(np.linalg.norm(v)))
        radius = 0.85 * float(np.linalg.norm(radial))
        start_angle = math.atan2(radial[1], radial[0])
        z = disc_top + 0.015  # below the top of the bar, clear of the knob's disc
        angles = start_angle + turn * np.linspace(-1.0, 1.2, 12)
        arc = [
            np.array([*(joint.anchor[:2] + radius * np.array([math.cos(a), math.sin(a)])), z]) for a in angles
        ]
        return [
            Waypoint("above knob", lambda _e: arc[0] + [0, 0, self.hover], GRIPPER_CLOSED, 0.01, timeout=80),
            Waypoint("lower to knob", lambda _e: arc[0], GRIPPER_CLOSED, 0.008, timeout=40),
            *[
                Waypoint(f"sweep {i}", lambda _e, p=p: p, GRIPPER_CLOSED, 0.012, timeout=20)
                for i, p in enumerate(arc[1:])
            ],
            Waypoint("retreat", lambda e: e.eef_position() + [0, 0, 0.08], GRIPPER_CLOSED, 0.02, timeout=20),
        ]

    def slide_drawer(self, env, goal: GoalPredicate) -> list[Waypoint]:
        """Open or close a drawer: grasp its handle bar with a half-open gripper and pull or push it."""
        joint = Joint.of(env, goal.subject)
        sign = joint.direction_to(env, goal.predicate)
        motion = joint.axis * sign  # world direction the drawer moves to reach the goal
        handle = max(
            geom_boxes(env, joint.body), key=lambda box: float(box.center @ (joint.axis * joint.open_sign))
        )
        grasp = handle.center.copy()
        travel = abs(joint.goal_qpos(goal.predicate) - joint.qpos(env)) + 0.02
        pulled = grasp + motion * travel
        return [
            Waypoint("above handle", lambda _e: grasp + [0, 0, self.hover], GRIPPER_OPEN, 0.01, timeout=80),
            Waypoint("narrow gripper", lambda e: e.eef_position(), GRIPPER_CLOSED, tolerance=1.0, hold=3),
            Waypoint("lower to handle", lambda _e: grasp, GRIPPER_HOLD, 0.008, timeout=40),
            Waypoint("grasp handle", lambda e: e.eef_position(), GRIPPER_CLOSED, tolerance=1.0, hold=8),
            Waypoint("slide", lambda _e: pulled, GRIPPER_CLOSED, 0.01, timeout=60),
            Waypoint("release", lambda e: e.eef_position(), GRIPPER_OPEN, tolerance=1.0, hold=6),
            Waypoint("retreat", lambda e: e.eef_position() + [0, 0, 0.08], GRIPPER_OPEN, 0.02, timeout=20),
        ]

    def _grasp_point(self, env, name: str, spec: GraspSpec) -> tuple[np.ndarray, float]:
        """Where the grip site goes to grasp ``name`` and how far to open each finger (from the site).

        A centre grasp opens fully. A rim grasp straddles the wall on one side of the bowl along the
        closing axis: the first fit of (finger opening, side, inset) whose fingers and hand clear every
        other obstacle (a drawer's front wall, a cabinet's top hanging over the bowl, a cabinet beside
        it), else the best fit.
        """
        box = object_box(env, name)
        height = box.size[2]
        point = np.array([*box.center[:2], box.top - min(spec.depth, 0.6 * height)])
        if not spec.rim:
            return point, FINGER_OPEN
        axis = self._closing_axis()
        radius = float(np.abs(axis[:2]) @ box.size[:2]) / 2
        best: tuple[float, np.ndarray, float] | None = None
        for opening in (FINGER_OPEN, *NARROW_OPENINGS):
            # The wall must stay between the fingers: the outer finger's inner face beyond the rim.
            for side in (1.0, -1.0):
                for inset in np.arange(spec.rim_inset, opening - 0.002, 0.003):
                    candidate = point.copy()
                    candidate[:2] += side * axis[:2] * (radius - inset)
                    clearance = self._finger_clearance(env, candidate, opening, (name,))
                    if clearance >= CLEARANCE:
                        return candidate, opening
                    if best is None or clearance > best[0]:
                        best = (clearance, candidate, opening)
        assert best is not None
        return best[1], best[2]

    def _finger_clearance(self, env, grasp: np.ndarray, opening: float, ignore: tuple[str, ...]) -> float:
        """Smallest height of the open fingers and the hand at ``grasp`` over the obstacles under them.

        Negative: they would collide.
        """
        axis = self._closing_axis()
        across = np.array([-axis[1], axis[0]])
        widths = np.array([-FINGER_HALF_WIDTH, 0.0, FINGER_HALF_WIDTH])
        hand = grasp[:2] + footprint(axis, across, HAND_HALF_SPAN, HAND_HALF_WIDTH, step=0.008)
        clearance = grasp[2] + HAND_ABOVE - obstacle_top(env, hand, ignore)
        for side in (1.0, -1.0):
            for thickness, bottom in (
                (FINGER_TIP_THICKNESS, grasp[2] - FINGER_BELOW),
                (FINGER_UPPER_THICKNESS, grasp[2] - FINGER_BELOW + FINGER_TIP_HEIGHT),
            ):
                offsets = opening + np.linspace(0.0, thickness, 4)
                points = [grasp[:2] + side * d * axis[:2] + w * across for d in offsets for w in widths]
                clearance = min(clearance, bottom - obstacle_top(env, np.array(points), ignore))
        return clearance

    def _closing_axis(self) -> np.ndarray:
        """World direction along which the fingers close (the gripper frame's y axis), unit length."""
        axis = self.reference_rotation[:, 1].copy()
        axis[2] = 0.0
        return axis / np.linalg.norm(axis)

    def _target_surface(self, env, target: str) -> tuple[float, np.ndarray]:
        """Height to release above and the xy centre of a goal target (an object or a region site)."""
        robo = env.robosuite_env
        if target in robo.obj_body_id:
            box = object_box(env, target)
            return box.top, box.center[:2].copy()
        site = site_position(env, target)
        region = robo.object_sites_dict.get(target)
        parent = getattr(region, "parent_name", None)
        if getattr(region, "joints", None):  # a drawer: release onto its floor, not onto the cabinet's top
            return obstacle_top(env, site[None, :2]), site[:2]
        top = object_box(env, parent).top if parent in robo.obj_body_id else float(site[2])
        return top, site[:2]


def _rotation_vector(rotation: np.ndarray, quat2axisangle) -> np.ndarray:
    from robosuite.utils.transform_utils import mat2quat

    vector = quat2axisangle(mat2quat(rotation))
    angle = np.linalg.norm(vector)
    if angle > math.pi:  # take the short way round
        vector = vector * (1 - 2 * math.pi / angle)
    return vector


PLANNERS: dict[str, Callable[[LiberoExpert, object, GoalPredicate], list[Waypoint]]] = {
    "in": LiberoExpert.pick_and_place,
    "on": LiberoExpert.pick_and_place,
    "open": LiberoExpert.slide_drawer,
    "close": LiberoExpert.slide_drawer,
    "turnon": LiberoExpert.turn_knob,
    "turnoff": LiberoExpert.turn_knob,
}


# ------------------------------------------------------------------------------------------- measuring
def state_only_env(suite: str, task_id: int):
    """A ``LiberoEnv`` that renders no camera (on a CPU: ~45 steps/s, against ~6 with one 256 px camera).

    Physics, resets and success checks are those of ``LiberoEnv``; observations carry only ``state``.
    For measuring the expert quickly, not for recording image datasets.
    """
    from vla.envs.base import benchmark_for_suite

    return benchmark_for_suite(suite).make_env(suite, task_id, cameras=())


def run_episode(env, expert: LiberoExpert, episode: int, max_steps: int | None = None) -> tuple[bool, int]:
    """Roll the expert out from init state ``episode`` (standard protocol); returns (success, steps)."""
    from vla.envs.rollout import reset_episode, rollout

    observation = reset_episode(env, episode=episode)
    expert.reset(env)
    result = rollout(env, observation, lambda _obs: expert.act(env), max_steps or env.max_steps)
    return result.success, result.steps


def measure(suite: str, task_ids: list[int], episodes: int) -> list[dict]:
    """Success of the expert per task over init states ``0..episodes-1``, printed as it goes."""
    rows = []
    for task_id in task_ids:
        env = state_only_env(suite, task_id)
        try:
            expert = LiberoExpert()
            results = [run_episode(env, expert, episode) for episode in range(episodes)]
        finally:
            env.close()
        row = {
            "suite": suite,
            "task_id": task_id,
            "instruction": env.instruction,
            "successes": sum(ok for ok, _ in results),
            "episodes": episodes,
            "steps": [steps for _, steps in results],
        }
        print(row, flush=True)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Measure the scripted expert's success per LIBERO task.")
    parser.add_argument("--suite", default="libero_object")
    parser.add_argument("--tasks", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--episodes", type=int, default=5)
    args = parser.parse_args(argv)
    rows = measure(args.suite, args.tasks, args.episodes)
    print("| suite | task | success | steps per episode | instruction |\n|---|---|---|---|---|")
    for r in rows:
        steps = ", ".join(map(str, r["steps"]))
        print(
            f"| {r['suite']} | {r['task_id']} | {r['successes']}/{r['episodes']} | {steps} | {r['instruction']} |"
        )


if __name__ == "__main__":
    main()
