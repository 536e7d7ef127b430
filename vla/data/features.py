"""Feature names and the gripper convention of a LIBERO dataset, mapped by config onto one canonical form.

Public LIBERO datasets come in two layouts: ``image`` / ``wrist_image`` / ``state`` / ``actions``
(physical-intelligence/libero) and ``observation.images.*`` / ``observation.state`` / ``action`` (LeRobot's
own ports). The rest of vla sees only the canonical names; a dataset's layout is a table entry, not a
branch in the code. Canonical gripper actions are -1 open / +1 close; some ports store 0 / 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla.config import check_choice

CANONICAL = ("image", "wrist_image", "state", "actions")
GRIPPER_CONVENTIONS = ("auto", "signed", "binary")


@dataclass(frozen=True)
class FeatureMap:
    """Dataset feature name for each canonical feature, and how the dataset encodes the gripper action."""

    image: str = "image"
    wrist_image: str = "wrist_image"
    state: str = "state"
    actions: str = "actions"
    #: ``signed`` (-1 open, +1 close), ``binary`` (0 open, 1 close) or ``auto`` (detected from the data).
    gripper: str = "auto"

    def __post_init__(self) -> None:
        check_choice("gripper", self.gripper, GRIPPER_CONVENTIONS)

    def dataset_key(self, canonical: str) -> str:
        return getattr(self, canonical)


#: Known layouts; ``DataConfig.layout`` names one (its fields can still be overridden one by one).
LAYOUTS: dict[str, FeatureMap] = {
    "libero": FeatureMap(),
    "lerobot": FeatureMap(
        image="observation.images.image",
        wrist_image="observation.images.wrist_image",
        state="observation.state",
        actions="action",
    ),
    # lerobot's own LIBERO dataset (HuggingFaceVLA/libero, LeRobot v3.0): the wrist camera is image2.
    "hf_libero": FeatureMap(
        image="observation.images.image",
        wrist_image="observation.images.image2",
        state="observation.state",
        actions="action",
    ),
}


def detect_gripper_convention(gripper: np.ndarray) -> str:
    """``binary`` when every gripper action lies in [0, 1] and some are near 0, else ``signed``."""
    gripper = np.asarray(gripper, dtype=np.float64)
    if gripper.size and gripper.min() >= -1e-6 and gripper.max() <= 1 + 1e-6 and (gripper < 0.5).any():
        return "binary"
    return "signed"


def gripper_to_signed(actions: np.ndarray, convention: str) -> np.ndarray:
    """The one conversion of gripper actions (last dimension) to -1 open / +1 close.

    ``binary`` maps 0 -> -1 and 1 -> +1 (2x - 1); ``signed`` is returned unchanged.
    """
    check_choice("gripper convention", convention, ("signed", "binary"))
    if convention == "signed":
        return actions
    out = np.array(actions, dtype=np.float64, copy=True)
    out[..., -1] = 2.0 * out[..., -1] - 1.0
    return out
