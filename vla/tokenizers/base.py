"""The one interface every action tokenizer implements, the registry its implementations join with
``@register_tokenizer`` (in their own files; this module imports none of them), and the loader that reads
the saved type."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from vla.config import ConfigError, from_dict, to_dict
from vla.errors import UserError
from vla.hub import BrokenArtifactError, HubMixin, resolve_pretrained
from vla.tokenizers.normalize import FeatureStats, check_finite

CONFIG_FILE = "action_tokenizer.json"
PAD_ID = -1
"""Fills the tail of a variable-length tokenizer's rows (FAST); never a real id. The model side strips it."""


class TokenizerFitError(ValueError, UserError):
    """The data given to ``fit`` cannot train this tokenizer (too little, wrong shape, NaN)."""


class InvalidTokensError(ValueError, UserError):
    """``decode(..., strict=True)`` got a token sequence this tokenizer could not have produced."""


@dataclass(frozen=True)
class DecodeResult:
    """Decoded chunks (N, horizon, action_dim) in physical units, and which rows decoded cleanly."""

    actions: np.ndarray
    valid: np.ndarray


def as_chunks(chunks: Any, name: str = "chunks") -> np.ndarray:
    """Accept numpy or torch, (H, D) or (N, H, D); return float64 (N, H, D)."""
    if hasattr(chunks, "detach"):
        chunks = chunks.detach().cpu().numpy()
    array = np.asarray(chunks, dtype=np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise TokenizerFitError(f"{name} must have shape (N, horizon, action_dim), got {array.shape}")
    return array


class ActionTokenizer(HubMixin, ABC):
    """Turns action chunks (N, horizon, action_dim) into token ids in ``[0, vocab_size)`` and back.

    Every tokenizer carries the normalization statistics it was fitted with, so it works in physical units.
    """

    tokenizer_type: ClassVar[str]
    #: True when ``fit(chunks, shifted)`` uses the chunk one step later (an overlap loss).
    fits_on_shifted_chunks: ClassVar[bool] = False
    variable_length: ClassVar[bool] = False
    """True when ``encode`` rows hold a variable number of ids followed by ``PAD_ID`` padding."""
    #: True when ``fit`` takes ``checkpoint_dir`` / ``checkpoint_every`` (a long fit that can resume).
    fit_checkpoints: ClassVar[bool] = False
    #: Config fields of a configuration that fits in seconds on one CPU core (the contract tests in
    #: tests/test_tokenizer_contract.py run every registered tokenizer with them).
    tiny_options: ClassVar[dict[str, Any]] = {}
    artifact_kind = "action tokenizer"
    config: Any
    action_stats: FeatureStats | None

    # -- the interface -------------------------------------------------------------------------
    @abstractmethod
    def fit(self, chunks: Any) -> Self:
        """Learn whatever the tokenizer needs from physical-unit chunks (N, horizon, action_dim)."""

    @abstractmethod
    def encode(self, chunks: Any) -> np.ndarray:
        """Token ids (N, tokens_per_chunk), int64."""

    @abstractmethod
    def decode(self, ids: Any, strict: bool = False) -> DecodeResult:
        """Chunks for any id sequences, however wrong; ``strict=True`` raises InvalidTokensError instead."""

    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @property
    @abstractmethod
    def tokens_per_chunk(self) -> int:
        """Tokens per chunk (the maximum, for variable-length tokenizers)."""

    @property
    def horizon(self) -> int:
        return int(self.config.horizon)

    @property
    def action_dim(self) -> int:
        return int(self.config.action_dim)

    @property
    def is_fitted(self) -> bool:
        return self.action_stats is not None

    def token_lengths(self) -> tuple[np.ndarray, int] | None:
        """For variable-length tokenizers whose tokens stand for a variable number of values (FAST: BPE
        pieces of DCT coefficients): each id's number of values and the number a chunk needs. Constrained
        decoding then only emits rows that decode exactly. ``None``: no such constraint."""
        return None

    @property
    def uses_observations(self) -> bool:
        """True when ``fit`` needs ``observations=`` features of each chunk's observation (a contrastive
        term): :func:`vla.train.tokenizer.fit_action_tokenizer` then computes them."""
        return False

    @classmethod
    def fit_needs_observations(cls, options: dict[str, Any]) -> bool:
        """Whether a tokenizer built from config ``options`` will need ``observations=`` (so the dataset
        must be loaded with its images): what :attr:`uses_observations` will say, known before building."""
        return False

    # -- shared helpers ------------------------------------------------------------------------
    def _check_fit_data(self, chunks: Any, min_chunks: int = 2) -> np.ndarray:
        array = as_chunks(chunks)
        if array.shape[1:] != (self.horizon, self.action_dim):
            raise TokenizerFitError(
                f"chunks have shape {array.shape[1:]} per chunk; this tokenizer is configured for "
                f"(horizon={self.horizon}, action_dim={self.action_dim})"
            )
        if array.shape[0] < min_chunks:
            raise TokenizerFitError(f"need at least {min_chunks} chunks to fit, got {array.shape[0]}")
        try:
            check_finite("chunks", array)
        except ValueError as err:
            raise TokenizerFitError(str(err)) from None
        return array

    def _require_fitted(self) -> FeatureStats:
        if self.action_stats is None:
            raise RuntimeError(
                f"{type(self).__name__} is not fitted: call fit(chunks) or from_pretrained(...)"
            )
        return self.action_stats

    def _as_id_rows(self, ids: Any) -> list[np.ndarray]:
        """Any id input -> a list of 1-D int64 rows (ragged allowed); non-integers become -1 (invalid)."""
        if hasattr(ids, "detach"):
            ids = ids.detach().cpu().numpy()
        if isinstance(ids, np.ndarray):
            rows = [ids] if ids.ndim <= 1 else list(ids.reshape(ids.shape[0], -1))
        else:
            ids = list(ids)
            rows = [ids] if (not ids or np.isscalar(ids[0])) else ids
        out = []
        for row in rows:
            arr = np.asarray(row, dtype=np.float64).reshape(-1)
            arr = np.where(np.isfinite(arr), arr, -1)
            arr = np.clip(arr, -(2**62), 2**62)
            out.append(arr.astype(np.int64))
        return out

    # -- persistence ---------------------------------------------------------------------------
    def _extra_state(self) -> dict[str, Any]:
        """JSON-able learned state beyond the config and the statistics."""
        return {}

    def _load_extra_state(self, state: dict[str, Any], folder: Path) -> None:
        pass

    @classmethod
    def from_foreign_folder(cls, folder: Path) -> Self | None:
        """This tokenizer from a folder without ``action_tokenizer.json`` in a layout it knows (e.g. the
        checkpoints its authors released); ``None`` when the folder is not one."""
        return None

    def _save_pretrained(self, folder: Path) -> None:
        config = to_dict(self.config)
        if "device" in config:  # where it was fitted is no property of the tokenizer: it loads on the CPU
            config["device"] = "cpu"
        payload = {
            "tokenizer_type": self.tokenizer_type,
            "config": config,
            "action_stats": None if self.action_stats is None else self.action_stats.to_dict(),
            "state": self._extra_state(),
        }
        (folder / CONFIG_FILE).write_text(json.dumps(payload, indent=1))

    @classmethod
    def _from_pretrained(cls, folder: Path, **kwargs: Any) -> Self:
        payload = _read_payload(folder)
        if payload["tokenizer_type"] != cls.tokenizer_type:
            raise TypeError(
                f"{folder} holds a {payload['tokenizer_type']!r} tokenizer, not {cls.tokenizer_type!r}; "
                "use AutoActionTokenizer.from_pretrained"
            )
        tokenizer = cls(from_dict(cls.config_class, payload["config"]))
        stats = payload.get("action_stats")
        tokenizer.action_stats = None if stats is None else FeatureStats.from_dict(stats)
        tokenizer._load_extra_state(payload.get("state") or {}, folder)
        return tokenizer

    config_class: ClassVar[type]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vocab_size={self.vocab_size}, tokens_per_chunk={self.tokens_per_chunk}, "
            f"horizon={self.horizon}, action_dim={self.action_dim}, fitted={self.is_fitted})"
        )


def _read_payload(folder: Path) -> dict[str, Any]:
    file = folder / CONFIG_FILE
    if not file.is_file():
        raise FileNotFoundError(f"{folder} is not an action tokenizer folder: it has no {CONFIG_FILE}")
    try:
        return json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BrokenArtifactError(
            f"{file} cannot be read ({type(err).__name__}: {err}): truncated or corrupted; save, download or "
            "fit the tokenizer again"
        ) from None


_REGISTRY: dict[str, type[ActionTokenizer]] = {}


def register_tokenizer[T: type[ActionTokenizer]](cls: T) -> T:
    """Class decorator: makes ``cls`` loadable by its ``tokenizer_type`` (configs, saved folders). Each
    tokenizer registers in its own file; ``vla.tokenizers`` imports the built-in ones so they register."""
    kind = cls.tokenizer_type
    if kind in _REGISTRY and _REGISTRY[kind] is not cls:
        raise ValueError(f"tokenizer_type {kind!r} is registered twice: {_REGISTRY[kind]} and {cls}")
    _REGISTRY[kind] = cls
    return cls


def tokenizer_classes() -> dict[str, type[ActionTokenizer]]:
    """The table of tokenizer types a config or a saved folder may name (every registered tokenizer)."""
    return dict(_REGISTRY)


def tokenizer_class(tokenizer_type: str) -> type[ActionTokenizer]:
    """The registered class of ``tokenizer_type``; a ConfigError naming the known types otherwise."""
    if tokenizer_type not in _REGISTRY:
        raise ConfigError(
            f"tokenizer_type={tokenizer_type!r} is invalid: expected one of {sorted(_REGISTRY)}"
        )
    return _REGISTRY[tokenizer_type]


#: Tokenizers that ship inside vla, loadable by name (each folder holds its model card and fit command).
SHIPPED_TOKENIZERS: dict[str, Path] = {
    "actioncodec-libero": Path(__file__).resolve().parent / "pretrained" / "actioncodec-libero",
}


class AutoActionTokenizer:
    """Load any saved action tokenizer from a folder, Hub repo id or the name of one vla ships
    (:data:`SHIPPED_TOKENIZERS`), reading its saved type."""

    @staticmethod
    def from_pretrained(name_or_path: str | Path) -> ActionTokenizer:
        shipped = SHIPPED_TOKENIZERS.get(str(name_or_path))
        folder = shipped or resolve_pretrained(name_or_path, kind="action tokenizer")
        if not (folder / CONFIG_FILE).is_file():  # another layout a tokenizer can read (e.g. its authors')
            for cls in _REGISTRY.values():
                if (tokenizer := cls.from_foreign_folder(folder)) is not None:
                    return tokenizer
        kind = _read_payload(folder)["tokenizer_type"]
        classes = tokenizer_classes()
        if kind not in classes:
            raise BrokenArtifactError(f"{folder}: unknown tokenizer_type {kind!r}; known: {sorted(classes)}")
        return classes[kind]._from_pretrained(folder)

    @staticmethod
    def from_config(tokenizer_type: str, **config: Any) -> ActionTokenizer:
        """A new, unfitted tokenizer of ``tokenizer_type`` built from config fields."""
        cls = tokenizer_class(tokenizer_type)
        return cls(from_dict(cls.config_class, config))
