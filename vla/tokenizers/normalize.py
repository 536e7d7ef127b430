"""Normalization statistics (mean, std, min, max, q01, q99 per dimension) saved as a small JSON artifact.

The layout matches the ``stats.json`` that LeRobot datasets ship ({feature: {stat: [values]}}), so the
statistics of a public dataset and ours read the same way. They travel inside tokenizers and checkpoints.
They live here, below ``vla.data``, because every tokenizer computes and carries its own; the dataset,
policy and trainer read them from here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vla.errors import UserError
from vla.hub import HubMixin

STAT_NAMES = ("mean", "std", "min", "max", "q01", "q99")
STATS_FILE = "norm_stats.json"


class StatisticsError(ValueError, UserError):
    """Data given for statistics is empty, non-finite, or does not match the statistics' shape."""


def check_finite(name: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        where = np.argwhere(bad)[0].tolist()
        raise StatisticsError(f"{name} holds {int(bad.sum())} NaN/inf value(s), the first at index {where}")


@dataclass(frozen=True)
class FeatureStats:
    """Per-dimension statistics of one feature (e.g. ``actions`` or ``state``)."""

    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    q01: np.ndarray
    q99: np.ndarray

    @classmethod
    def from_array(cls, values: np.ndarray, name: str = "values") -> FeatureStats:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        values = values.reshape(-1, values.shape[-1])
        if values.shape[0] < 2:
            raise StatisticsError(f"{name}: need at least 2 samples for statistics, got {values.shape[0]}")
        check_finite(name, values)
        q01, q99 = np.quantile(values, [0.01, 0.99], axis=0)
        return cls(values.mean(0), values.std(0), values.min(0), values.max(0), q01, q99)

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def to_dict(self) -> dict[str, list[float]]:
        return {k: np.asarray(getattr(self, k), dtype=np.float64).tolist() for k in STAT_NAMES}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> FeatureStats:
        missing = [k for k in STAT_NAMES if k not in data]
        if missing:
            raise StatisticsError(f"statistics lack {missing}; expected all of {list(STAT_NAMES)}")
        return cls(**{k: np.asarray(data[k], dtype=np.float64).reshape(-1) for k in STAT_NAMES})

    def normalize(self, x: np.ndarray, mode: str = "quantile") -> np.ndarray:
        """Map to about [-1, 1]: ``quantile`` uses q01/q99 (robust to outliers), ``minmax`` min/max,
        ``meanstd`` z-scores. Dimensions whose range is zero pass through unchanged."""
        lo, hi = self._bounds(mode)
        x = np.asarray(x, dtype=np.float64)
        if mode == "meanstd":
            scale = np.where(self.std > 1e-8, self.std, 1.0)
            return (x - self.mean) / scale
        span = hi - lo
        safe = np.where(span > 1e-8, span, 1.0)
        out = 2.0 * (x - lo) / safe - 1.0
        return np.where(span > 1e-8, out, x)

    def unnormalize(self, y: np.ndarray, mode: str = "quantile") -> np.ndarray:
        lo, hi = self._bounds(mode)
        y = np.asarray(y, dtype=np.float64)
        if mode == "meanstd":
            return y * np.where(self.std > 1e-8, self.std, 1.0) + self.mean
        span = hi - lo
        return np.where(span > 1e-8, (y + 1.0) / 2.0 * span + lo, y)

    def _bounds(self, mode: str) -> tuple[np.ndarray, np.ndarray]:
        if mode == "quantile":
            return self.q01, self.q99
        if mode in ("minmax", "meanstd"):
            return self.min, self.max
        raise ValueError(
            f"normalization mode {mode!r} is invalid: expected 'quantile', 'minmax' or 'meanstd'"
        )


@dataclass(frozen=True)
class NormStats(HubMixin):
    """Statistics for several features, saved as ``norm_stats.json``."""

    features: dict[str, FeatureStats] = field(default_factory=dict)
    artifact_kind = "normalization statistics"

    def __getitem__(self, name: str) -> FeatureStats:
        if name not in self.features:
            raise KeyError(f"no statistics for feature {name!r}; have {sorted(self.features)}")
        return self.features[name]

    def to_dict(self) -> dict[str, dict[str, list[float]]]:
        return {name: stats.to_dict() for name, stats in self.features.items()}

    @classmethod
    def from_dict(cls, data: dict) -> NormStats:
        return cls({name: FeatureStats.from_dict(stats) for name, stats in data.items()})

    def _save_pretrained(self, folder: Path) -> None:
        (folder / STATS_FILE).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def _from_pretrained(cls, folder: Path, **kwargs) -> NormStats:
        file = folder / STATS_FILE
        if not file.is_file():
            raise FileNotFoundError(f"{folder} holds no {STATS_FILE}")
        return cls.from_dict(json.loads(file.read_text()))
