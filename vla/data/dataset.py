"""Load a LeRobotDataset (local folder or Hub id) with action chunks, and compute its statistics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vla._logging import quiet_known_noise
from vla.data.normalize import FeatureStats, NormStats

quiet_known_noise()


class DatasetError(ValueError):
    """A dataset is missing, unreachable, or lacks a feature the config names."""


def load_chunked_dataset(name_or_path: str | Path, horizon: int, action_key: str = "actions"):
    """A ``LeRobotDataset`` whose samples carry ``action_key`` chunks of ``horizon`` steps from the current
    frame. lerobot pads chunks that run past the episode end with the last action and marks them in
    ``{action_key}_is_pad``; frames of two episodes are never mixed."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    path = Path(name_or_path).expanduser()
    if path.is_dir():
        info_file = path / "meta" / "info.json"
        if not info_file.is_file():
            raise DatasetError(f"{path} is not a LeRobotDataset folder: it has no meta/info.json")
        info = json.loads(info_file.read_text())
        repo_id, root = f"local/{path.name}", path
    else:
        from vla.hub import resolve_pretrained

        root = resolve_pretrained(str(name_or_path), kind="dataset")
        info = json.loads((root / "meta" / "info.json").read_text())
        repo_id = str(name_or_path)
    if action_key not in info["features"]:
        raise DatasetError(
            f"dataset {str(name_or_path)!r} has no feature {action_key!r}; it has {sorted(info['features'])}"
        )
    fps = info["fps"]
    return LeRobotDataset(
        repo_id, root=root, delta_timestamps={action_key: [k / fps for k in range(horizon)]}
    )


def episode_action_chunks(dataset, horizon: int, action_key: str = "actions") -> np.ndarray:
    """Every frame's action chunk (N, horizon, dim), padded with the episode's last action, read from the
    table columns (no image decoding)."""
    table = dataset.hf_dataset.with_format("numpy")
    actions = np.stack(table[action_key]).astype(np.float64)
    episodes = np.asarray(table["episode_index"])
    chunks = np.empty((len(actions), horizon, actions.shape[-1]))
    for episode in np.unique(episodes):
        idx = np.flatnonzero(episodes == episode)
        ep = actions[idx]
        steps = np.minimum(np.arange(len(ep))[:, None] + np.arange(horizon)[None], len(ep) - 1)
        chunks[idx] = ep[steps]
    return chunks


def compute_norm_stats(dataset, keys: tuple[str, ...] = ("state", "actions")) -> NormStats:
    table = dataset.hf_dataset.with_format("numpy")
    return NormStats({key: FeatureStats.from_array(np.stack(table[key]), name=key) for key in keys})
