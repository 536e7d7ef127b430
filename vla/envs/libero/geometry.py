"""Scene geometry of a LIBERO environment from privileged simulator state: bounding boxes, obstacle heights
from vertical rays, sites, and the joints behind articulated fixtures (drawers, knobs)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Box:
    """World-frame axis-aligned bounding box of an object's collision geometry."""

    low: np.ndarray
    high: np.ndarray

    @property
    def center(self) -> np.ndarray:
        return (self.low + self.high) / 2

    @property
    def size(self) -> np.ndarray:
        return self.high - self.low

    @property
    def top(self) -> float:
        return float(self.high[2])

    @property
    def bottom(self) -> float:
        return float(self.low[2])


def object_box(env, name: str) -> Box:
    """Bounding box of every collision geom attached (at any depth) to object ``name``'s root body."""
    robo = env.robosuite_env
    model, data = robo.sim.model, robo.sim.data
    root = robo.obj_body_id[name]
    geoms = [
        g
        for g in range(model.ngeom)
        if model.body_rootid[model.geom_bodyid[g]] == model.body_rootid[root]
        and model.geom_bodyid[g] != 0
        and (model.geom_contype[g] or model.geom_conaffinity[g])
        and _is_descendant(model, model.geom_bodyid[g], root)
    ]
    if not geoms:
        pos = np.asarray(data.body_xpos[root])
        return Box(pos.copy(), pos.copy())
    lows, highs = [], []
    for g in geoms:
        rot = np.asarray(data.geom_xmat[g]).reshape(3, 3)
        local_center, half = model.geom_aabb[g, :3], model.geom_aabb[g, 3:]
        center = np.asarray(data.geom_xpos[g]) + rot @ local_center
        extent = np.abs(rot) @ half
        lows.append(center - extent)
        highs.append(center + extent)
    return Box(np.min(lows, axis=0), np.max(highs, axis=0))


def _is_descendant(model, body: int, ancestor: int) -> bool:
    while body != ancestor and body != 0:
        body = model.body_parentid[body]
    return body == ancestor


def _ignored_roots(env, ignore: tuple[str, ...]) -> set[int]:
    """Root bodies whose geoms obstacle probes skip: the robot's and those of the objects in ``ignore``."""
    robo = env.robosuite_env
    model = robo.sim.model
    roots = {int(model.body_rootid[model.body_name2id(robo.robots[0].robot_model.root_body)])}
    return roots | {
        int(model.body_rootid[robo.obj_body_id[name]]) for name in ignore if name in robo.obj_body_id
    }


def obstacle_top(env, points_xy: np.ndarray, ignore: tuple[str, ...] = (), from_z: float = 1.6) -> float:
    """Highest colliding surface below ``from_z`` over any of ``points_xy`` (N, 2), from vertical rays.

    The robot and the objects named in ``ignore`` are seen through. Exact for meshes, unlike bounding
    boxes: a drawer's open interior stays open. Returns -inf where nothing is below.
    """
    import mujoco

    robo = env.robosuite_env
    model, data = robo.sim.model._model, robo.sim.data._data
    skip = _ignored_roots(env, ignore)
    geom = np.array([-1], dtype=np.int32)
    down = np.array([0.0, 0.0, -1.0])
    top = -math.inf
    for x, y in np.asarray(points_xy, dtype=np.float64).reshape(-1, 2):
        z = from_z
        while True:
            distance = mujoco.mj_ray(model, data, np.array([x, y, z]), down, None, 1, -1, geom)
            if geom[0] < 0 or distance < 0:
                break
            g = int(geom[0])
            colliding = model.geom_contype[g] or model.geom_conaffinity[g]
            if colliding and int(model.body_rootid[model.geom_bodyid[g]]) not in skip:
                top = max(top, z - distance)
                break
            z -= distance + 1e-4
    return top


def site_position(env, name: str) -> np.ndarray:
    return np.asarray(env.sim.data.get_site_xpos(name), dtype=np.float64).copy()


def geom_boxes(env, body: int) -> list[Box]:
    """World bounding boxes of the collision geoms attached directly to ``body``."""
    model, data = env.sim.model, env.sim.data
    boxes = []
    for g in range(model.ngeom):
        if model.geom_bodyid[g] == body and (model.geom_contype[g] or model.geom_conaffinity[g]):
            rot = np.asarray(data.geom_xmat[g]).reshape(3, 3)
            center = np.asarray(data.geom_xpos[g]) + rot @ model.geom_aabb[g, :3]
            extent = np.abs(rot) @ model.geom_aabb[g, 3:]
            boxes.append(Box(center - extent, center + extent))
    return boxes


def knob_bar(env, body: int) -> tuple[float, Box]:
    """A knob is a disc with a raised bar to turn it by: (top of the disc, box around the bar)."""
    boxes = geom_boxes(env, body)
    tops = [box.top for box in boxes]
    middle = (max(tops) + min(tops)) / 2
    raised = [box for box in boxes if box.top > middle]
    disc_top = max((box.top for box in boxes if box.top <= middle), default=min(tops))
    return disc_top, Box(np.min([b.low for b in raised], axis=0), np.max([b.high for b in raised], axis=0))


@dataclass(frozen=True)
class Joint:
    """The joint behind an articulated goal (a drawer's slide, a knob's hinge) and its goal ranges."""

    name: str
    body: int
    anchor: np.ndarray
    axis: np.ndarray
    ranges: dict[str, list[float]]

    #: goal predicate -> the fixture's articulation range that satisfies it
    RANGE_KEYS = {
        "open": "default_open_ranges",
        "close": "default_close_ranges",
        "turnon": "default_turnon_ranges",
        "turnoff": "default_turnoff_ranges",
    }

    @classmethod
    def of(cls, env, name: str) -> Joint:
        robo = env.robosuite_env
        if name in robo.object_sites_dict:  # a drawer region: its own joint, its parent's ranges
            joint_name = robo.object_sites_dict[name].joints[0]
            fixture = robo.get_object(robo.object_sites_dict[name].parent_name)
        else:
            fixture = robo.get_object(name)
            joint_name = fixture.joints[0]
        model, data = robo.sim.model, robo.sim.data
        j = model.joint_name2id(joint_name)
        return cls(
            joint_name,
            int(model.jnt_bodyid[j]),
            np.asarray(data.xanchor[j]).copy(),
            np.asarray(data.xaxis[j]).copy(),
            dict(fixture.object_properties["articulation"]),
        )

    def qpos(self, env) -> float:
        return float(env.sim.data.get_joint_qpos(self.name))

    def goal_qpos(self, predicate: str) -> float:
        """The middle of the goal range: a target with margin on both sides."""
        return float(np.mean(self.ranges[self.RANGE_KEYS[predicate]]))

    def direction_to(self, env, predicate: str) -> float:
        """+1 if the joint must increase to satisfy ``predicate``, else -1."""
        return 1.0 if self.goal_qpos(predicate) > self.qpos(env) else -1.0

    @property
    def open_sign(self) -> float:
        """+1 if opening increases the joint (the handle then sits on the +axis side)."""
        opened, closed = self.ranges.get("default_open_ranges"), self.ranges.get("default_close_ranges")
        return 1.0 if np.mean(opened) > np.mean(closed) else -1.0


def footprint(
    axis: np.ndarray, across: np.ndarray, half_span: float, half_width: float, step: float = 0.02
) -> np.ndarray:
    """xy offsets (N, 2) sampling a rectangle around the grip site, ``half_span`` along ``axis``,
    at most ``step`` apart."""
    spans = np.linspace(-half_span, half_span, math.ceil(2 * half_span / step) + 1)
    widths = np.linspace(-half_width, half_width, math.ceil(2 * half_width / step) + 1)
    return np.array([s * axis[:2] + w * across for s in spans for w in widths])
