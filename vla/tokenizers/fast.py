"""FAST: a discrete cosine transform along time, then byte-pair encoding of the rounded coefficients.

Smooth chunks concentrate their energy in a few low frequencies, so after scaling and rounding most
coefficients are 0 and BPE merges the long runs into few tokens: the chunk length in tokens adapts to
how complex the motion is. Per chunk:

1. normalize with the q01/q99 statistics to about [-1, 1], NOT clipped: the published FAST processor
   (physical-intelligence/fast, ``processing_action_tokenizer.py``) takes the chunk as given, so values
   beyond q01/q99 keep their size instead of being cut to the quantile;
2. DCT-II along time for every action dimension (orthonormal, so it is its own inverse's transpose);
3. multiply by ``scale`` and round to integers, clipped to the range seen in fit ``[-R, R]`` (the published
   processor only floors them at its minimum; the upper clip keeps our alphabet fixed after fit);
4. flatten frequency-major (all dimensions of frequency 0, then of frequency 1, ...), so a truncated
   sequence loses only the highest frequencies;
5. map each integer to one character ``chr(CHAR_OFFSET + R + value)`` and BPE-encode the string.

``encode`` returns ``(N, max_tokens)`` int64 rows: the BPE ids, then ``PAD_ID`` (-1) up to ``max_tokens``.
Real ids are in ``[0, vocab_size)``. The BPE model (a Hugging Face ``tokenizers`` JSON) is saved inside
``action_tokenizer.json``, so the folder needs no other file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from vla.config import check
from vla.tokenizers.base import (
    PAD_ID,
    ActionTokenizer,
    DecodeResult,
    InvalidTokensError,
    TokenizerFitError,
    register_tokenizer,
)
from vla.tokenizers.normalize import FeatureStats

log = logging.getLogger(__name__)

CHAR_OFFSET = 0x4E00
"""First character of the coefficient alphabet: CJK letters, none of them whitespace or punctuation.
With ``vocab_size <= 32768`` the alphabet stays below the UTF-16 surrogate range (0xD800)."""


@dataclass(frozen=True)
class FastConfig:
    horizon: int = 8
    action_dim: int = 7
    scale: float = 10.0
    vocab_size: int = 1024
    max_tokens: int = 64
    min_frequency: int = 2

    def __post_init__(self) -> None:
        check(self.horizon >= 1, "horizon", self.horizon, "must be >= 1")
        check(self.action_dim >= 1, "action_dim", self.action_dim, "must be >= 1")
        check(self.scale > 0 and np.isfinite(self.scale), "scale", self.scale, "must be a finite number > 0")
        check(3 <= self.vocab_size <= 32768, "vocab_size", self.vocab_size, "must be in [3, 32768]")
        check(self.max_tokens >= 1, "max_tokens", self.max_tokens, "must be >= 1")
        check(self.min_frequency >= 0, "min_frequency", self.min_frequency, "must be >= 0")


@register_tokenizer
class FastActionTokenizer(ActionTokenizer):
    tokenizer_type = "fast"
    config_class = FastConfig
    tiny_options = {"vocab_size": 256}
    variable_length = True

    def __init__(self, config: FastConfig | None = None, **overrides: Any) -> None:
        self.config = config or FastConfig(**overrides)
        self.action_stats: FeatureStats | None = None
        self.max_coefficient: int | None = None  # R: integer coefficients are clipped to [-R, R]
        self._bpe: Any = None  # tokenizers.Tokenizer
        self._pieces: list[str] = []  # id -> the characters it stands for
        self._warned_truncation = False

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def tokens_per_chunk(self) -> int:
        return self.config.max_tokens

    @property
    def n_coefficients(self) -> int:
        return self.horizon * self.action_dim

    # -- coefficients <-> strings -------------------------------------------------------------------
    def _coefficients(self, chunks: np.ndarray) -> np.ndarray:
        """Physical chunks (N, H, D) -> integer DCT coefficients (N, H*D), frequency-major, unclipped."""
        from scipy.fft import dct

        normalized = self.action_stats.normalize(chunks)  # unclipped, as the published FAST
        coefficients = dct(normalized, type=2, axis=1, norm="ortho") * self.config.scale
        return np.rint(coefficients).astype(np.int64).reshape(chunks.shape[0], -1)

    def _to_strings(self, coefficients: np.ndarray) -> list[str]:
        r = self.max_coefficient
        codes = np.clip(coefficients, -r, r) + (CHAR_OFFSET + r)
        return ["".join(map(chr, row)) for row in codes.tolist()]

    def _chunks_from_coefficients(self, coefficients: np.ndarray) -> np.ndarray:
        from scipy.fft import idct

        grid = coefficients.reshape(-1, self.horizon, self.action_dim) / self.config.scale
        normalized = idct(grid, type=2, axis=1, norm="ortho")
        return self.action_stats.unnormalize(normalized)

    # -- the interface ------------------------------------------------------------------------------
    def fit(self, chunks: Any) -> Self:
        from tokenizers import Tokenizer, models, trainers

        array = self._check_fit_data(chunks)
        self.action_stats = FeatureStats.from_array(array.reshape(-1, self.action_dim), name="actions")
        coefficients = self._coefficients(array)
        r = max(1, int(np.abs(coefficients).max()))
        if 2 * r + 1 >= self.config.vocab_size:
            self.action_stats = None
            raise TokenizerFitError(
                f"the rounded DCT coefficients span [-{r}, {r}]: {2 * r + 1} base symbols do not leave room "
                f"for merges in vocab_size={self.config.vocab_size}; raise vocab_size or lower "
                f"scale={self.config.scale}"
            )
        self.max_coefficient = r
        alphabet = [chr(CHAR_OFFSET + i) for i in range(2 * r + 1)]
        bpe = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(
            vocab_size=self.config.vocab_size,
            min_frequency=self.config.min_frequency,
            initial_alphabet=alphabet,
            limit_alphabet=len(alphabet),
            special_tokens=[],
            show_progress=False,
        )
        bpe.train_from_iterator(self._to_strings(coefficients), trainer=trainer)
        self._set_bpe(bpe)
        return self

    def _set_bpe(self, bpe: Any) -> None:
        vocab = bpe.get_vocab()
        pieces = [""] * len(vocab)
        for piece, index in vocab.items():
            pieces[index] = piece
        if len(vocab) > self.config.vocab_size or "" in pieces:
            raise ValueError(f"BPE vocabulary of {len(vocab)} ids is not contiguous in [0, vocab_size)")
        self._bpe, self._pieces = bpe, pieces

    def encode(self, chunks: Any) -> np.ndarray:
        """(N, max_tokens) int64: BPE ids then PAD_ID; rows longer than max_tokens lose their tail
        (the highest frequencies) with a warning."""
        self._require_fitted()
        array = np.asarray(chunks.detach().cpu().numpy() if hasattr(chunks, "detach") else chunks, np.float64)
        array = array[None] if array.ndim == 2 else array
        if array.ndim != 3 or array.shape[1:] != (self.horizon, self.action_dim):
            raise ValueError(
                f"chunks of shape {array.shape[1:]} given; expected ({self.horizon}, {self.action_dim})"
            )
        strings = self._to_strings(self._coefficients(array))
        out = np.full((len(strings), self.config.max_tokens), PAD_ID, dtype=np.int64)
        for i, encoding in enumerate(self._bpe.encode_batch(strings)):
            ids = encoding.ids
            if len(ids) > self.config.max_tokens and not self._warned_truncation:
                self._warned_truncation = True
                log.warning(
                    "FAST: a chunk needed %d tokens > max_tokens=%d; its highest frequencies are dropped",
                    len(ids),
                    self.config.max_tokens,
                )
            ids = ids[: self.config.max_tokens]
            out[i, : len(ids)] = ids
        return out

    def token_lengths(self) -> tuple[np.ndarray, int]:
        """Coefficients per BPE id, and the chunk's ``horizon * action_dim``: a row decodes exactly when its
        ids' lengths add up to it."""
        self._require_fitted()
        # ids past the fitted BPE vocabulary stand for nothing: longer than any chunk, so never allowed
        lengths = np.full(self.vocab_size, self.n_coefficients + 1, dtype=np.int64)
        lengths[: len(self._pieces)] = [len(piece) for piece in self._pieces]
        return lengths, self.n_coefficients

    def decode(self, ids: Any, strict: bool = False) -> DecodeResult:
        """Any rows -> chunks. Trailing PAD_ID ends a row. A row is invalid when it holds an id outside
        the BPE vocabulary, a PAD_ID before a real id, or the wrong number of coefficients; the bad ids
        are skipped and the coefficients zero-padded or truncated, so the chunk is still well-formed."""
        self._require_fitted()
        rows = self._as_id_rows(ids)
        n_coef, n_vocab, r = self.n_coefficients, len(self._pieces), self.max_coefficient
        coefficients = np.zeros((len(rows), n_coef))
        valid = np.ones(len(rows), dtype=bool)
        for i, row in enumerate(rows):
            end = row.shape[0]
            while end > 0 and row[end - 1] == PAD_ID:
                end -= 1
            body = row[:end]
            known = (body >= 0) & (body < n_vocab)
            text = "".join(self._pieces[k] for k in body[known].tolist())
            values = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
            values -= CHAR_OFFSET + r
            problem = None
            if not known.all():
                bad = body[~known]
                problem = f"{bad.size} id(s) outside the BPE vocabulary [0, {n_vocab}), e.g. {int(bad[0])}"
            elif values.size != n_coef:
                problem = f"the ids spell {values.size} coefficients, expected {n_coef}"
            if problem is not None:
                if strict:
                    raise InvalidTokensError(f"row {i}: {problem}")
                valid[i] = False
            take = min(n_coef, values.size)
            coefficients[i, :take] = values[:take]
        return DecodeResult(self._chunks_from_coefficients(coefficients), valid)

    # -- persistence --------------------------------------------------------------------------------
    def _extra_state(self) -> dict[str, Any]:
        if self._bpe is None:
            return {}
        return {"max_coefficient": self.max_coefficient, "bpe": self._bpe.to_str()}

    def _load_extra_state(self, state: dict[str, Any], folder: Path) -> None:
        if "bpe" in state:
            from tokenizers import Tokenizer

            self.max_coefficient = int(state["max_coefficient"])
            self._set_bpe(Tokenizer.from_str(state["bpe"]))
