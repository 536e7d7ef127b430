"""Load a LeRobotDataset (local folder or Hub id) with action chunks, and compute its statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vla._logging import quiet_known_noise
from vla.data.features import CANONICAL, LAYOUTS, FeatureMap, detect_gripper_convention, gripper_to_signed
from vla.errors import UserError
from vla.tokenizers.normalize import FeatureStats, NormStats, check_finite

quiet_known_noise()


class DatasetError(ValueError, UserError):
    """A dataset is missing, unreachable, or lacks a feature the config names."""


class ChunkedDataset:
    """A LeRobotDataset seen through a :class:`FeatureMap`: samples carry the canonical names
    (``image``, ``wrist_image``, ``state``, ``actions`` chunk, ``actions_is_pad``, ``task``) and gripper
    actions in the -1 / +1 convention, whatever the dataset's own layout.

    The action chunk is sliced from the actions column held in memory (``action_dim`` floats per frame), with
    lerobot's semantics: steps past the episode's end repeat its last action and are flagged in
    ``actions_is_pad``. lerobot's own ``delta_timestamps`` query decodes every queried row's images too,
    which made it ~7x slower per sample on LIBERO data (bench/data_pipeline.py); here only the current
    frame is decoded."""

    def __init__(
        self,
        lerobot_dataset,
        features: FeatureMap,
        gripper: str,
        horizon: int,
        image_transforms=None,
        augment_seed: int = 0,
    ) -> None:
        self.lerobot, self.features, self.gripper, self.horizon = lerobot_dataset, features, gripper, horizon
        #: Training-time augmentation of each camera image (vla/data/augment.py), drawn from a generator
        #: seeded by (augment_seed, epoch, index): what a sample looks like does not depend on what was read
        #: before it, so a resumed run sees the images an uninterrupted one would (accelerate's loader
        #: reads a batch ahead, so the global generator a checkpoint saves is already past it).
        self.image_transforms, self.augment_seed, self.epoch = image_transforms, augment_seed, 0
        #: Which data this is (``load_chunked_dataset`` fills it): name, Hub revision, episodes, frames.
        self.source: dict[str, Any] = {}
        table = lerobot_dataset.hf_dataset.with_format("numpy")
        self._actions = gripper_to_signed(
            np.stack(table[features.actions]).astype(np.float32), gripper
        ).astype(np.float32)
        episodes = np.asarray(table["episode_index"])
        # last frame of each row's episode (rows of one episode are contiguous in LeRobot datasets)
        boundaries = np.flatnonzero(np.diff(episodes)) + 1
        ends = np.append(boundaries, len(episodes)) - 1
        self._episode_end = np.repeat(ends, np.diff(np.concatenate([[0], ends + 1])))

    def __len__(self) -> int:
        return len(self.lerobot)

    def __getitem__(self, index: int) -> dict[str, Any]:
        raw = self.lerobot[index]
        sample = {name: raw[self.features.dataset_key(name)] for name in CANONICAL if name != "actions"}
        index = int(index)
        steps = index + np.arange(self.horizon)
        end = self._episode_end[index]
        sample["actions"] = self._actions[np.minimum(steps, end)]
        sample["actions_is_pad"] = steps > end
        for key in ("task", "episode_index", "frame_index", "index"):
            if key in raw:
                sample[key] = raw[key]
        if self.image_transforms is not None:
            self._augment(sample, index)
        return sample

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer at each epoch: the next epoch augments differently."""
        self.epoch = epoch

    def _augment(self, sample: dict[str, Any], index: int) -> None:
        import torch

        seed = np.random.SeedSequence([self.augment_seed, self.epoch, index]).generate_state(1)[0]
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(int(seed))  # torch.manual_seed would reseed the GPUs too
            for name in CANONICAL:
                if "image" in name and name in sample:
                    sample[name] = self.image_transforms(sample[name])

    @property
    def action_dim(self) -> int:
        """Size of one action (the dataset's own: 7 for LIBERO)."""
        return int(self._actions.shape[-1])

    @property
    def fps(self) -> int:
        return self.lerobot.fps

    @property
    def image_size(self) -> int:
        """Side in pixels of the (square) agent-view images."""
        shape = self.lerobot.meta.features[self.features.image]["shape"]
        # LeRobot stores image shapes as (height, width, channel) or (channel, height, width)
        return int(max(shape))

    def column(self, canonical: str) -> np.ndarray:
        """A whole numeric column (no image decoding), canonical name and convention."""
        table = self.lerobot.hf_dataset.with_format("numpy")
        values = np.stack(table[self.features.dataset_key(canonical)]).astype(np.float64)
        return gripper_to_signed(values, self.gripper) if canonical == "actions" else values

    def episode_index(self) -> np.ndarray:
        return np.asarray(self.lerobot.hf_dataset.with_format("numpy")["episode_index"])

    def task_index(self) -> np.ndarray:
        return np.asarray(self.lerobot.hf_dataset.with_format("numpy")["task_index"])


#: The LeRobot dataset layout the pinned lerobot reads (0.6.x: v3.0).
READABLE_MAJOR_VERSION = 3


def check_codebase_version(info: dict[str, Any], name: str, root: Path) -> None:
    """Refuse, in one line that says how to convert, a dataset in an older LeRobot layout (e.g.
    physical-intelligence/libero, published as v2.x), which the pinned lerobot cannot read."""
    version = str(info.get("codebase_version", "")).lstrip("v")
    major = version.split(".")[0]
    if major.isdigit() and int(major) < READABLE_MAJOR_VERSION:
        repo = name if not Path(name).expanduser().is_dir() else f"local/{root.name}"
        raise DatasetError(
            f"dataset {name!r} is in the LeRobot v{version} layout; lerobot 0.6 reads v3.0 only. Convert it "
            f"once with lerobot's converter: python -m lerobot.scripts.convert_dataset_v21_to_v30 "
            f"--repo-id={repo} --root={root} --push-to-hub=false (or use HuggingFaceVLA/libero, already v3.0)"
        )


def load_chunked_dataset(
    name_or_path: str | Path,
    horizon: int,
    features: FeatureMap | str = "libero",
    images: bool = True,
    action_dim: int | None = None,
    image_transforms=None,
    augment_seed: int = 0,
) -> ChunkedDataset:
    """A dataset whose samples carry action chunks of ``horizon`` steps from the current frame. lerobot pads
    chunks that run past the episode end with the last action and marks them in ``actions_is_pad``; frames
    of two episodes are never mixed. ``images=False`` also accepts a dataset without cameras (an action
    corpus, ``vla data generate --no-images``) for what reads only states and actions: tokenizer fits.
    Actions must be one vector per frame, of ``action_dim`` values when given (e.g. a benchmark's
    ``action.dim``); the gripper command is the last value. ``image_transforms`` (training only, see
    vla/data/augment.py) is applied to each camera image of each sample, drawn from ``augment_seed``, the
    epoch and the sample's index."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    if isinstance(features, str):
        if features not in LAYOUTS:
            raise DatasetError(f"layout={features!r} is invalid: expected one of {sorted(LAYOUTS)}")
        features = LAYOUTS[features]
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        info_file = path / "meta" / "info.json"
        if not info_file.is_file():
            raise DatasetError(f"{path} is not a LeRobotDataset folder: it has no meta/info.json")
        repo_id, root = f"local/{path.name}", path
    else:
        from vla.hub import resolve_pretrained

        root = resolve_pretrained(str(name_or_path), kind="dataset", repo_type="dataset")
        repo_id = str(name_or_path)
    info = json.loads((root / "meta" / "info.json").read_text())
    check_codebase_version(info, str(name_or_path), root)
    missing = [
        f"{name} -> {features.dataset_key(name)!r}"
        for name in CANONICAL
        if features.dataset_key(name) not in info["features"] and (images or "image" not in name)
    ]
    if missing:
        raise DatasetError(
            f"dataset {str(name_or_path)!r} lacks feature(s) {', '.join(missing)}; it has "
            f"{sorted(info['features'])}. Choose data.layout ({', '.join(sorted(LAYOUTS))}) or set "
            "data.features to map each canonical name onto this dataset's names"
        )
    shape = tuple(info["features"][features.actions]["shape"])
    expected = "(action_dim,)" if action_dim is None else f"({action_dim},)"
    if len(shape) != 1 or shape[0] < 1 or (action_dim is not None and shape != (action_dim,)):
        raise DatasetError(f"dataset {str(name_or_path)!r}: actions have shape {shape}; expected {expected}")
    dataset = LeRobotDataset(repo_id, root=root)
    table = dataset.hf_dataset.with_format("numpy")
    raw_actions = np.stack(table[features.actions]).astype(np.float64)
    check_finite(f"dataset {str(name_or_path)!r} actions", raw_actions)
    gripper = features.gripper
    if gripper == "auto":
        gripper = detect_gripper_convention(raw_actions[:, -1])
    chunked = ChunkedDataset(dataset, features, gripper, horizon, image_transforms, augment_seed)
    chunked.source = {
        "dataset": str(name_or_path),
        # a Hub dataset is read from its cached snapshot, named by the commit it was downloaded at
        "revision": root.name if root.parent.name == "snapshots" else None,
        "episodes": int(info.get("total_episodes", 0)),
        "frames": int(info.get("total_frames", 0)),
    }
    return chunked


def episode_action_chunks(dataset: ChunkedDataset, horizon: int) -> np.ndarray:
    """Every frame's action chunk (N, horizon, dim), padded with the episode's last action, read from the
    table columns (no image decoding)."""
    actions = dataset.column("actions")
    episodes = dataset.episode_index()
    chunks = np.empty((len(actions), horizon, actions.shape[-1]))
    for episode in np.unique(episodes):
        idx = np.flatnonzero(episodes == episode)
        ep = actions[idx]
        steps = np.minimum(np.arange(len(ep))[:, None] + np.arange(horizon)[None], len(ep) - 1)
        chunks[idx] = ep[steps]
    return chunks


def compute_norm_stats(dataset: ChunkedDataset, keys: tuple[str, ...] = ("state", "actions")) -> NormStats:
    return NormStats({key: FeatureStats.from_array(dataset.column(key), name=key) for key in keys})


def shifted_chunk_pairs(dataset: ChunkedDataset, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """(chunks, shifted): every chunk whose episode has a next frame, and the chunk starting one step later
    in the same episode (what the temporal-overlap principle compares)."""
    chunks = episode_action_chunks(dataset, horizon)
    keep = frames_with_successor(dataset)
    return chunks[keep], chunks[keep + 1]


def shifted_chunk_labels(dataset: ChunkedDataset) -> tuple[np.ndarray, np.ndarray]:
    """(task_index, episode_index) of each row :func:`shifted_chunk_pairs` returns."""
    keep = frames_with_successor(dataset)
    return dataset.task_index()[keep], dataset.episode_index()[keep]


def frames_with_successor(dataset: ChunkedDataset) -> np.ndarray:
    """Rows whose episode has a next frame: the rows :func:`shifted_chunk_pairs` returns."""
    episodes = dataset.episode_index()
    return np.flatnonzero(episodes[:-1] == episodes[1:])


def check_stats_match(stats: FeatureStats, dataset: ChunkedDataset, name: str = "actions") -> float:
    """Raise :class:`DatasetError` when statistics made elsewhere (a pretrained tokenizer's, a checkpoint's)
    cannot describe ``dataset``'s ``name`` feature: wrong dimension. Returns the fraction of the dataset's
    values inside the statistics' [min, max] and warns when it is below 99% (the tokenizer will clip)."""
    import logging

    values = dataset.column(name)
    if values.shape[-1] != stats.dim:
        raise DatasetError(
            f"statistics for {name!r} have {stats.dim} dimension(s) but the dataset's {name!r} has "
            f"{values.shape[-1]}: they were computed on another kind of data"
        )
    span = np.maximum(stats.max - stats.min, 1e-8)
    inside = float(np.mean((values >= stats.min - 1e-3 * span) & (values <= stats.max + 1e-3 * span)))
    if inside < 0.99:
        logging.getLogger(__name__).warning(
            "only %.1f%% of the dataset's %r values lie inside the statistics' [min, max]: the statistics "
            "come from different data and out-of-range values will be clipped",
            100 * inside,
            name,
        )
    return inside


def compare_with_shipped_stats(
    stats: NormStats, dataset: ChunkedDataset, keys: tuple[str, ...] = ("state", "actions")
) -> dict[str, dict[str, float]]:
    """Largest absolute difference, per feature and statistic, between ``stats`` and the ``stats.json``
    the LeRobotDataset ships (in its own feature names; the gripper column in the dataset's convention).
    lerobot estimates quantiles per episode and aggregates them, so q01/q99 differ slightly by design."""
    shipped = dataset.lerobot.meta.stats or {}
    report: dict[str, dict[str, float]] = {}
    for key in keys:
        theirs = shipped.get(dataset.features.dataset_key(key))
        if theirs is None:
            continue
        ours = stats[key]
        if key == "actions" and dataset.gripper != "signed":
            # ours are in the -1/+1 convention; compare in the dataset's own units
            ours = FeatureStats.from_array(
                np.stack(dataset.lerobot.hf_dataset.with_format("numpy")[dataset.features.actions]), key
            )
        report[key] = {
            stat: float(
                np.max(np.abs(np.asarray(theirs[stat], dtype=np.float64).reshape(-1) - getattr(ours, stat)))
            )
            for stat in ("mean", "std", "min", "max", "q01", "q99")
            if stat in theirs
        }
    return report


def format_stats_report(
    stats: NormStats, diffs: dict[str, dict[str, float]], keys: tuple[str, ...] = ("state", "actions")
) -> str:
    """The terminal view of ``vla data stats``: mean, std, q01, q99 per feature, then the largest
    differences from the shipped ``stats.json`` (:func:`compare_with_shipped_stats`)."""
    lines = []
    for key in keys:
        s = stats[key]
        lines.append(f"{key}: dim {s.dim}")
        for stat in ("mean", "std", "q01", "q99"):
            lines.append(f"  {stat:<5} " + " ".join(f"{v:+.4f}" for v in getattr(s, stat)))
    if not diffs:
        lines.append("the dataset ships no stats.json to compare with")
    for key, row in diffs.items():
        lines.append(
            f"largest |ours - shipped stats.json| for {key}: "
            + ", ".join(f"{k} {v:.2e}" for k, v in row.items())
        )
    return "\n".join(lines)
