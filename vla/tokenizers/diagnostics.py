"""Measure the ActionCodec paper's tokenizer principles for any ActionTokenizer, on given chunks.

- fidelity: reconstruction MSE and max abs error per action dimension, in physical units;
- length: tokens per chunk (non-pad ids), mean and max;
- vocabulary: codes used / vocab size, and codebook perplexity exp(H(token usage));
- redundancy: near-duplicate code pairs (tokenizers that expose ``codebook_vectors()``; None otherwise);
- temporal overlap: how much encode(chunk_t) and encode(chunk_{t+1}) share;
- independence: mean pairwise mutual information between token positions, and how many bits a bigram
  model saves over a unigram model (0 when tokens carry no information about their successor).

Dependence is measured on held-out data (2-fold: count on the first half of the rows, score the second,
and back), so a large vocabulary seen on few chunks does not look dependent just by memorizing its
samples, as the plug-in mutual information would. Pass chunks in episode order so that the halves do
not share overlapping windows. They remain estimates: compare tokenizers on the same chunks.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from vla.tokenizers.base import PAD_ID, ActionTokenizer, as_chunks


# -- synthetic data ------------------------------------------------------------------------------------
def synthetic_chunks(
    n_episodes: int = 20, length: int = 60, horizon: int = 8, action_dim: int = 7, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """LIBERO-like smooth chunks: per episode, sums of two sinusoids per arm dimension (within about
    +-0.9) and a binary gripper (-1 open, +1 closed) that closes once and may reopen. Returns
    ``(chunks, shifted)`` where ``shifted[i]`` starts one step after ``chunks[i]`` in the same episode."""
    rng = np.random.default_rng(seed)
    arm = action_dim - 1
    chunks, shifted = [], []
    for _ in range(n_episodes):
        t = np.arange(length + horizon + 1)[:, None] / 10.0  # 10 Hz, like LIBERO
        frequency = rng.uniform(0.05, 0.4, (2, arm))
        phase = rng.uniform(0, 2 * np.pi, (2, arm))
        amplitude = rng.uniform(0.1, 0.45, (2, arm))
        motion = sum(amplitude[k] * np.sin(2 * np.pi * frequency[k] * t + phase[k]) for k in range(2))
        close, reopen = np.sort(rng.uniform(0, t[-1, 0] * 1.3, 2))
        gripper = np.where((t[:, 0] > close) & (t[:, 0] < reopen), 1.0, -1.0)[:, None]
        episode = np.concatenate([motion, gripper], axis=1)[:, :action_dim]
        for start in range(length):
            chunks.append(episode[start : start + horizon])
            shifted.append(episode[start + 1 : start + 1 + horizon])
    return np.asarray(chunks), np.asarray(shifted)


# -- single measurements -----------------------------------------------------------------------------
def reconstruction_error(tokenizer: ActionTokenizer, chunks: Any) -> dict[str, Any]:
    """Round-trip error in physical units, per action dimension, and how many rows decoded valid."""
    array = as_chunks(chunks)
    result = tokenizer.decode(tokenizer.encode(array))
    error = result.actions - array
    return {
        "mse": float(np.mean(error**2)),
        "mse_per_dim": np.mean(error**2, axis=(0, 1)).tolist(),
        "max_abs_per_dim": np.abs(error).max(axis=(0, 1)).tolist(),
        "valid_fraction": float(result.valid.mean()),
    }


def _rows(ids: np.ndarray) -> list[np.ndarray]:
    """Rows without PAD_ID (tokenizers pad only at the end)."""
    return [row[row != PAD_ID] for row in np.asarray(ids, dtype=np.int64)]


def token_counts(ids: np.ndarray) -> dict[str, float]:
    lengths = np.array([row.size for row in _rows(ids)])
    return {"mean": float(lengths.mean()), "max": int(lengths.max()), "min": int(lengths.min())}


def _plugin_entropy_nats(counts: np.ndarray) -> float:
    counts = counts[counts > 0]
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def vocabulary_usage(ids: np.ndarray, vocab_size: int) -> dict[str, float]:
    """Distinct codes used, their share of the vocabulary, and the perplexity of token usage
    (exp of the plug-in entropy: 1 for a single code, K for K codes used equally)."""
    tokens = np.concatenate(_rows(ids)) if len(ids) else np.zeros(0, np.int64)
    _, counts = np.unique(tokens, return_counts=True)
    return {
        "used": int(counts.size),
        "vocab_size": int(vocab_size),
        "used_fraction": counts.size / vocab_size,
        "perplexity": float(np.exp(_plugin_entropy_nats(counts))) if counts.size else 0.0,
    }


def codebook_redundancy(
    tokenizer: ActionTokenizer, relative_threshold: float = 0.05
) -> dict[str, Any] | None:
    """Pairs of codes closer than ``relative_threshold`` x the median pairwise distance of their codebook:
    near-duplicates that split one meaning over several ids. None for tokenizers without codebooks."""
    vectors = getattr(tokenizer, "codebook_vectors", None)
    if vectors is None:
        return None
    pairs, total, involved = 0, 0, 0
    for codebook in vectors():
        squared = (codebook**2).sum(1)
        distance = np.sqrt(np.maximum(squared[:, None] + squared[None] - 2 * codebook @ codebook.T, 0.0))
        upper = np.triu_indices(codebook.shape[0], k=1)
        flat = distance[upper]
        close = flat < relative_threshold * np.median(flat)
        pairs += int(close.sum())
        total += flat.size
        involved += int(np.unique(np.concatenate([upper[0][close], upper[1][close]])).size)
    return {"near_duplicate_pairs": pairs, "pair_fraction": pairs / max(total, 1), "codes_involved": involved}


def temporal_overlap(tokenizer: ActionTokenizer, chunks: Any, shifted: Any) -> float:
    """Mean share of tokens that chunk_t and chunk_{t+1} have in common: equal ids at equal positions for
    fixed-length tokenizers; multiset intersection / the longer length for variable-length ones."""
    a, b = tokenizer.encode(as_chunks(chunks)), tokenizer.encode(as_chunks(shifted, "shifted"))
    return overlap_between(a, b, variable_length=tokenizer.variable_length)


def overlap_between(a: np.ndarray, b: np.ndarray, variable_length: bool) -> float:
    if not variable_length:
        return float(np.mean(np.asarray(a) == np.asarray(b)))
    shares = []
    for row_a, row_b in zip(_rows(a), _rows(b), strict=True):
        longest = max(row_a.size, row_b.size)
        common = sum((Counter(row_a.tolist()) & Counter(row_b.tolist())).values())
        shares.append(1.0 if longest == 0 else common / longest)
    return float(np.mean(shares))


def _predictive_gain_bits(context: np.ndarray, target: np.ndarray) -> float:
    """Bits per symbol saved predicting ``target`` from ``context`` rather than from nothing, measured
    on held-out halves (2-fold). The conditional model interpolates a context's counts with the unigram
    (Witten-Bell: the more distinct successors a context had, the more it backs off), so contexts seen
    rarely or never cost little. About 0 for independent sequences; negative when the data are too few
    to tell (the conditional model then overfits); up to H(target) for a determined target."""
    n = target.size
    if n < 4:
        return 0.0
    _, x = np.unique(context, return_inverse=True)
    _, y = np.unique(target, return_inverse=True)
    k, n_contexts = int(y.max()) + 1, int(x.max()) + 1
    folds = np.arange(n) < n // 2  # contiguous halves: neighbouring (overlapping) chunks stay together
    saved = 0.0
    for train in (folds, ~folds):
        test = ~train
        unigram = np.bincount(y[train], minlength=k) + 0.5
        unigram /= unigram.sum()
        pair_keys, pair_counts = np.unique(x[train].astype(np.int64) * k + y[train], return_counts=True)
        successors = np.bincount(pair_keys // k, minlength=n_contexts)  # distinct successors per context
        test_keys = x[test].astype(np.int64) * k + y[test]
        where = np.clip(np.searchsorted(pair_keys, test_keys), 0, max(pair_keys.size - 1, 0))
        joint = np.where(pair_keys[where] == test_keys, pair_counts[where], 0)
        context_counts = np.bincount(x[train], minlength=n_contexts)[x[test]]
        types = successors[x[test]]
        p_unigram = unigram[y[test]]
        p_conditional = np.where(
            context_counts > 0, (joint + types * p_unigram) / np.maximum(context_counts + types, 1), p_unigram
        )
        saved += float(np.sum(np.log2(p_conditional) - np.log2(p_unigram)))
    return saved / n


def position_mutual_information(ids: np.ndarray, max_pairs: int = 300, seed: int = 0) -> float:
    """Mean information (bits, held-out estimate) one token position gives about another, over position
    pairs (a random ``max_pairs`` of them when there are more). Pads count as a symbol. About 0 for
    independent positions: the paper asks for independent tokens, so lower is better."""
    ids = np.asarray(ids, dtype=np.int64)
    n, positions = ids.shape
    if n < 4 or positions < 2:
        return 0.0
    pairs = [(i, j) for i in range(positions) for j in range(i + 1, positions)]
    if len(pairs) > max_pairs:
        chosen = np.random.default_rng(seed).choice(len(pairs), max_pairs, replace=False)
        pairs = [pairs[k] for k in sorted(chosen)]
    return float(np.mean([_predictive_gain_bits(ids[:, i], ids[:, j]) for i, j in pairs]))


def bigram_gain(ids: np.ndarray) -> dict[str, float]:
    """Held-out cross-entropy (bits per token) of a unigram and of a bigram model of consecutive non-pad
    tokens; ``gain_bits`` = unigram - bigram, how much the previous token predicts the next one."""
    rows = _rows(ids)
    previous = np.concatenate([row[:-1] for row in rows]) if rows else np.zeros(0, np.int64)
    following = np.concatenate([row[1:] for row in rows]) if rows else np.zeros(0, np.int64)
    if following.size < 4:
        return {"unigram_bits": 0.0, "bigram_bits": 0.0, "gain_bits": 0.0}
    unigram = _heldout_unigram_bits(following)
    gain = _predictive_gain_bits(previous, following)
    return {"unigram_bits": unigram, "bigram_bits": unigram - gain, "gain_bits": gain}


def _heldout_unigram_bits(tokens: np.ndarray) -> float:
    _, y = np.unique(tokens, return_inverse=True)
    k = int(y.max()) + 1
    folds = np.arange(y.size) < y.size // 2
    bits = 0.0
    for train in (folds, ~folds):
        unigram = np.bincount(y[train], minlength=k) + 0.5
        bits -= float(np.sum(np.log2(unigram[y[~train]] / unigram.sum())))
    return bits / y.size


# -- everything at once ----------------------------------------------------------------------------
def report(tokenizer: ActionTokenizer, chunks: Any, shifted: Any = None) -> dict[str, Any]:
    """All measurements for a fitted tokenizer on ``chunks`` (and ``shifted``, for the overlap)."""
    array = as_chunks(chunks)
    ids = tokenizer.encode(array)
    return {
        "tokenizer": tokenizer.tokenizer_type,
        "n_chunks": int(array.shape[0]),
        "reconstruction": reconstruction_error(tokenizer, array),
        "tokens_per_chunk": token_counts(ids),
        "vocabulary": vocabulary_usage(ids, tokenizer.vocab_size),
        "redundancy": codebook_redundancy(tokenizer),
        "temporal_overlap": None if shifted is None else temporal_overlap(tokenizer, array, shifted),
        "position_mutual_information_bits": position_mutual_information(ids),
        "bigram": bigram_gain(ids),
    }
