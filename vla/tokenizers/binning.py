"""Per-dimension binning (OpenVLA): every action value of the chunk becomes one token.

Values are first normalized with the q01/q99 statistics to [-1, 1] and clipped; ``uniform`` bins split
[-1, 1] evenly, ``quantile`` bins put equally many training values in every bin of each dimension. The
vocabulary is shared across dimensions, so tokens_per_chunk = horizon * action_dim.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from vla.config import check, check_choice
from vla.tokenizers.base import ActionTokenizer, DecodeResult, InvalidTokensError, register_tokenizer
from vla.tokenizers.normalize import FeatureStats


@dataclass(frozen=True)
class BinningConfig:
    horizon: int = 8
    action_dim: int = 7
    n_bins: int = 256
    strategy: str = "uniform"

    def __post_init__(self) -> None:
        check(self.horizon >= 1, "horizon", self.horizon, "must be >= 1")
        check(self.action_dim >= 1, "action_dim", self.action_dim, "must be >= 1")
        check(2 <= self.n_bins <= 65536, "n_bins", self.n_bins, "must be in [2, 65536]")
        check_choice("strategy", self.strategy, ("uniform", "quantile"))


@register_tokenizer
class BinningActionTokenizer(ActionTokenizer):
    tokenizer_type = "binning"
    config_class = BinningConfig

    def __init__(self, config: BinningConfig | None = None, **overrides: Any) -> None:
        self.config = config or BinningConfig(**overrides)
        self.action_stats: FeatureStats | None = None
        self.edges: np.ndarray | None = None  # (action_dim, n_bins + 1) in normalized units
        self.centers: np.ndarray | None = None  # (action_dim, n_bins): the value each bin decodes to

    @property
    def vocab_size(self) -> int:
        return self.config.n_bins

    @property
    def tokens_per_chunk(self) -> int:
        return self.config.horizon * self.config.action_dim

    def fit(self, chunks: Any) -> Self:
        array = self._check_fit_data(chunks)
        flat = array.reshape(-1, self.action_dim)
        self.action_stats = FeatureStats.from_array(flat, name="actions")
        normalized = np.clip(self.action_stats.normalize(flat), -1.0, 1.0)
        n = self.config.n_bins
        if self.config.strategy == "uniform":
            edges = np.tile(np.linspace(-1.0, 1.0, n + 1), (self.action_dim, 1))
        else:
            edges = np.quantile(normalized, np.linspace(0.0, 1.0, n + 1), axis=0).T
            # Repeated quantiles (e.g. a binary gripper) would give empty bins: keep edges increasing.
            edges = np.maximum.accumulate(edges + np.arange(n + 1) * 1e-9, axis=1)
            edges[:, 0], edges[:, -1] = -1.0, 1.0
        self.edges = edges
        self.centers = (edges[:, :-1] + edges[:, 1:]) / 2.0
        if self.config.strategy == "quantile":
            # Decode each bin to the mean of its training values: a bin that straddles two clusters
            # (a binary gripper) would otherwise decode to a value no demonstration ever had.
            for d in range(self.action_dim):
                bins = np.searchsorted(edges[d, 1:-1], normalized[:, d], side="right")
                sums = np.bincount(bins, weights=normalized[:, d], minlength=n)
                counts = np.bincount(bins, minlength=n)
                self.centers[d] = np.where(counts > 0, sums / np.maximum(counts, 1), self.centers[d])
        return self

    def encode(self, chunks: Any) -> np.ndarray:
        stats = self._require_fitted()
        array = np.asarray(chunks.detach().cpu().numpy() if hasattr(chunks, "detach") else chunks, np.float64)
        array = array[None] if array.ndim == 2 else array
        if array.shape[1:] != (self.horizon, self.action_dim):
            raise ValueError(
                f"chunks of shape {array.shape[1:]} given; expected ({self.horizon}, {self.action_dim})"
            )
        normalized = np.clip(stats.normalize(array), -1.0, 1.0)
        ids = np.empty(normalized.shape, dtype=np.int64)
        for d in range(self.action_dim):
            inner = self.edges[d, 1:-1]
            ids[..., d] = np.searchsorted(inner, normalized[..., d], side="right")
        return ids.reshape(array.shape[0], -1)

    def decode(self, ids: Any, strict: bool = False) -> DecodeResult:
        stats = self._require_fitted()
        rows = self._as_id_rows(ids)
        n, t = self.config.n_bins, self.tokens_per_chunk
        centers = self.centers
        actions = np.zeros((len(rows), self.horizon, self.action_dim))
        valid = np.ones(len(rows), dtype=bool)
        for i, row in enumerate(rows):
            ok = row.shape[0] == t and bool(np.all((row >= 0) & (row < n)))
            if not ok and strict:
                raise InvalidTokensError(
                    f"row {i}: expected {t} ids in [0, {n}), got {row.shape[0]} ids spanning "
                    f"[{row.min() if row.size else None}, {row.max() if row.size else None}]"
                )
            fixed = np.full(t, n // 2, dtype=np.int64)  # missing tokens decode to the middle bin
            fixed[: min(t, row.shape[0])] = np.clip(row[:t], 0, n - 1)
            grid = fixed.reshape(self.horizon, self.action_dim)
            actions[i] = centers[np.arange(self.action_dim), grid]
            valid[i] = ok
        return DecodeResult(stats.unnormalize(actions), valid)

    def _extra_state(self) -> dict[str, Any]:
        if self.edges is None:
            return {}
        return {"edges": self.edges.tolist(), "centers": self.centers.tolist()}

    def _load_extra_state(self, state: dict[str, Any], folder: Path) -> None:
        if "edges" in state:
            self.edges = np.asarray(state["edges"], dtype=np.float64)
            self.centers = np.asarray(state["centers"], dtype=np.float64)
