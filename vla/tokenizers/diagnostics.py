"""Measure the ActionCodec paper's tokenizer principles for any ActionTokenizer, on given chunks.

- fidelity: reconstruction MSE and max abs error per action dimension, in physical units;
- length: tokens per chunk (non-pad ids), mean and max;
- vocabulary: codes used / vocab size, and codebook perplexity exp(H(token usage));
- redundancy: near-duplicate code pairs (tokenizers that expose ``codebook_vectors()``; None otherwise);
- temporal overlap: how much encode(chunk_t) and encode(chunk_{t+1}) share, one definition for every
  tokenizer: equal ids at aligned positions once the sequences are aligned by the token shift that one
  step of time causes (found from the data: 0 for ActionCodec, action_dim for binning);
- independence: mean pairwise mutual information between token positions (bias-corrected and calibrated,
  see :func:`dependence_bits`), and how many bits a held-out bigram model saves over a unigram model;
- multimodal information: how well a tokens-only classifier names the task (instruction) of held-out
  episodes, and the lower bound on I(tokens; task) its cross-entropy gives.

The plug-in mutual information of a large vocabulary seen on few chunks is mostly bias (independent
positions with 2048 codes look several bits dependent); the position dependence therefore subtracts the
plug-in value of the same pair with one side shuffled, and scales by the same quantity for a perfect copy,
so independent positions give ~0 bits and copied ones their entropy (tested at realistic vocabulary sizes).
The bigram gain is a held-out estimate (2-fold: count on the first half of the rows, score the second, and
back); pass chunks in episode order so that the halves do not share overlapping windows. They remain
estimates: compare tokenizers on the same chunks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vla.config import ConfigError
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


def chunk_pairs(episodes: dict, heldout: bool, horizon: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(chunks, shifted) of every frame that has a successor in its episode, of the held-out episodes or
    of the others; chunks padded with the episode's last action. ``episodes``: the arrays of an episodes
    file (``scripts/actioncodec_libero.py prepare``): ``actions``, ``starts`` (episode boundaries),
    ``heldout`` (per episode). The default horizon is the released ActionCodec's 1 s at 20 Hz."""
    actions, starts = episodes["actions"], episodes["starts"]
    chunks, shifted = [], []
    for e in np.flatnonzero(episodes["heldout"] == heldout):
        ep = actions[starts[e] : starts[e + 1]].astype(np.float64)
        steps = np.minimum(np.arange(len(ep))[:, None] + np.arange(horizon)[None], len(ep) - 1)
        c = ep[steps]
        chunks.append(c[:-1])
        shifted.append(c[1:])
    return np.concatenate(chunks), np.concatenate(shifted)


def gripper_sign_errors(decoded: np.ndarray, chunks: np.ndarray) -> int:
    """Steps whose gripper command (open -1 / close +1; 0 = hold, not counted) decodes to the other sign."""
    return int(
        ((np.abs(chunks[..., -1]) >= 0.5) & (np.sign(decoded[..., -1]) != np.sign(chunks[..., -1]))).sum()
    )


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
    """Mean share of tokens that chunk_t and chunk_{t+1} have in common (:func:`overlap_between`)."""
    a, b = tokenizer.encode(as_chunks(chunks)), tokenizer.encode(as_chunks(shifted, "shifted"))
    return overlap_between(a, b)


def overlap_between(a: np.ndarray, b: np.ndarray) -> float:
    """The overlap of :func:`overlap_and_shift`."""
    return overlap_and_shift(a, b)[0]


def overlap_and_shift(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """One overlap for every tokenizer: for a token shift ``s``, the share of positions ``p`` where
    ``a[p + s] == b[p]`` (chunk_t's tokens read ``s`` later against chunk_{t+1}'s), over the longer of
    the two rows (pads excluded; 1 when both are empty), averaged over rows; the shift that maximizes it
    over the data is the one a step of time causes (0 when tokens describe the whole chunk, ``action_dim``
    for per-step binning), and it is returned with the overlap."""
    rows_a, rows_b = _rows(a), _rows(b)
    if len(rows_a) != len(rows_b):
        raise ValueError(
            f"overlap needs as many rows of chunk_t ({len(rows_a)}) as of chunk_t+1 ({len(rows_b)})"
        )
    if not rows_a:
        return 0.0, 0
    width = max(max(r.size for r in rows_a), max(r.size for r in rows_b), 1)
    grid_a, grid_b = np.full((len(rows_a), width), -2), np.full((len(rows_b), width), -3)  # pads never match
    for i, (row_a, row_b) in enumerate(zip(rows_a, rows_b, strict=True)):
        grid_a[i, : row_a.size], grid_b[i, : row_b.size] = row_a, row_b
    longer = np.array([max(ra.size, rb.size) for ra, rb in zip(rows_a, rows_b, strict=True)])
    best, best_shift = -1.0, 0
    for shift in range(width):
        matches = (grid_a[:, shift:] == grid_b[:, : width - shift]).sum(1)
        share = float(np.mean(np.where(longer > 0, matches / np.maximum(longer, 1), 1.0)))
        if share > best:
            best, best_shift = share, shift
    return best, best_shift


def _plugin_mi_bits(x: np.ndarray, y: np.ndarray) -> float:
    """Plug-in I(x; y) in bits from the joint counts (biased upwards by ~ (Kx-1)(Ky-1) / 2N ln 2)."""
    _, joint = np.unique(x.astype(np.int64) * (int(y.max()) + 1) + y, return_counts=True)
    _, cx = np.unique(x, return_counts=True)
    _, cy = np.unique(y, return_counts=True)
    return (_plugin_entropy_nats(cx) + _plugin_entropy_nats(cy) - _plugin_entropy_nats(joint)) / np.log(2)


def _miller_madow_bits(y: np.ndarray) -> float:
    _, counts = np.unique(y, return_counts=True)
    return (_plugin_entropy_nats(counts) + (counts.size - 1) / (2 * y.size)) / np.log(2)


def dependence_bits(x: np.ndarray, y: np.ndarray, permutations: int = 3, seed: int = 0) -> float:
    """Calibrated estimate (bits) of what ``x`` tells about ``y``: the plug-in I(x; y) minus its value with
    ``y`` shuffled (the finite-sample bias, which is all of it for independent variables), as a share of the
    same corrected quantity for a perfect copy of ``y``, times H(y) (Miller-Madow). Independent: ~0; a copy
    (or any one-to-one function) of ``y``: ~H(y); in between an interpolation, not an exact MI, and biased low
    when there are few samples per symbol: a fixed dependence over 2,048 Zipf-distributed codes reads 1.43, 1.57,
    1.84, 1.98 bits at 2k, 5k, 20k, 80k samples (0.0 +- 0.04 when independent). Compare vocabularies of
    different sizes at several sample counts, not one."""
    x, y = np.unique(x, return_inverse=True)[1], np.unique(y, return_inverse=True)[1]
    if y.size < 4 or y.max() == 0:
        return 0.0
    rng = np.random.default_rng(seed)
    shuffles = [rng.permutation(y) for _ in range(permutations)]
    signal = _plugin_mi_bits(x, y) - np.mean([_plugin_mi_bits(x, s) for s in shuffles])
    ceiling = _plugin_mi_bits(y, y) - np.mean([_plugin_mi_bits(y, s) for s in shuffles])
    if ceiling <= 1e-12:
        return 0.0
    return float(min(signal / ceiling, 1.0) * _miller_madow_bits(y))


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
    """Mean information (bits, :func:`dependence_bits`) one token position gives about another, over position
    pairs (a random ``max_pairs`` of them when there are more). About 0 for independent positions: the paper
    asks for independent tokens, so lower is better.

    Variable-length rows: only the positions at which at least half of the rows hold a token are paired (a
    pad there still counts as a symbol); the mostly-padding tail is left out, so the figure does not depend
    on how wide the rows are padded (FAST's length cap)."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim == 2 and ids.size:
        ids = ids[:, (ids != PAD_ID).mean(axis=0) >= 0.5]
    n, positions = ids.shape
    if n < 4 or positions < 2:
        return 0.0
    pairs = [(i, j) for i in range(positions) for j in range(i + 1, positions)]
    if len(pairs) > max_pairs:
        chosen = np.random.default_rng(seed).choice(len(pairs), max_pairs, replace=False)
        pairs = [pairs[k] for k in sorted(chosen)]
    return float(np.mean([dependence_bits(ids[:, i], ids[:, j], seed=seed) for i, j in pairs]))


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


def task_information(
    ids: np.ndarray, tasks: np.ndarray, episodes: np.ndarray, positional: bool = True
) -> dict[str, float] | None:
    """How much the tokens of a chunk tell about its task, estimated with a naive-Bayes classifier over
    (position, token) features (bag of tokens when ``positional`` is False, for variable-length ids),
    trained on half of each task's episodes and scored on the other half, and back (2-fold).

    Returns the held-out accuracy, the chance level (majority task), and ``mutual_information_bits`` =
    H(task) - cross-entropy of the classifier, a lower bound on I(tokens; task) (clipped at 0). None when
    fewer than two tasks or fewer than two episodes per task are present."""
    ids, tasks, episodes = np.asarray(ids, np.int64), np.asarray(tasks), np.asarray(episodes)
    task_values, y = np.unique(tasks, return_inverse=True)
    if task_values.size < 2:
        return None
    fold = np.zeros(len(y), dtype=bool)
    for task in range(task_values.size):  # alternate the episodes of each task between the folds
        task_episodes = np.unique(episodes[y == task])
        if task_episodes.size < 2:
            return None
        fold |= np.isin(episodes, task_episodes[1::2]) & (y == task)
    rows = _rows(ids)
    if positional:
        features = [np.asarray([f"{p}:{t}" for p, t in enumerate(row)]) for row in rows]
    else:
        features = [row.astype(str) for row in rows]
    vocabulary, flat = np.unique(np.concatenate(features), return_inverse=True)
    lengths = np.array([f.size for f in features])
    row_of = np.repeat(np.arange(len(rows)), lengths)
    n_tasks, n_features = task_values.size, vocabulary.size
    correct, log_loss = 0, 0.0
    for train in (fold, ~fold):
        counts = np.ones((n_tasks, n_features))  # Laplace smoothing
        mask = train[row_of]
        np.add.at(counts, (y[row_of[mask]], flat[mask]), 1.0)
        log_p = np.log(counts / counts.sum(1, keepdims=True))
        prior = np.log((np.bincount(y[train], minlength=n_tasks) + 1.0) / (train.sum() + n_tasks))
        scores = np.tile(prior, (len(rows), 1))
        np.add.at(scores, row_of, log_p[:, flat].T)
        scores = scores[~train]
        scores -= scores.max(1, keepdims=True)
        log_posterior = scores - np.log(np.exp(scores).sum(1, keepdims=True))
        truth = y[~train]
        correct += int((scores.argmax(1) == truth).sum())
        log_loss -= float(log_posterior[np.arange(truth.size), truth].sum())
    counts = np.bincount(y, minlength=n_tasks)
    entropy_bits = _plugin_entropy_nats(counts) / np.log(2)
    return {
        "accuracy": correct / len(y),
        "chance": float(counts.max() / counts.sum()),
        "n_tasks": int(n_tasks),
        "task_entropy_bits": float(entropy_bits),
        "mutual_information_bits": float(max(0.0, entropy_bits - log_loss / len(y) / np.log(2))),
    }


def plot_codebook_usage(named_ids: dict[str, tuple[np.ndarray, int]], path: Any) -> None:
    """PNG of each tokenizer's code usage, codes sorted from most to least used, as a share of its
    vocabulary (x) against frequency (y, log): flat and wide is a vocabulary used evenly."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for name, (ids, vocab_size) in named_ids.items():
        tokens = np.concatenate(_rows(ids))
        counts = np.sort(np.bincount(tokens[tokens >= 0], minlength=vocab_size))[::-1]
        used = counts[counts > 0]
        axis.plot(
            np.arange(1, used.size + 1) / vocab_size,
            used / counts.sum(),
            label=f"{name} ({used.size}/{vocab_size} used)",
        )
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("code rank / vocabulary size")
    axis.set_ylabel("share of tokens")
    axis.set_title("codebook usage")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


# -- everything at once ----------------------------------------------------------------------------
def report(
    tokenizer: ActionTokenizer,
    chunks: Any,
    shifted: Any = None,
    tasks: Any = None,
    episodes: Any = None,
) -> dict[str, Any]:
    """All measurements for a fitted tokenizer on ``chunks`` (and ``shifted``, for the overlap; ``tasks``
    and ``episodes`` per chunk, for the task information)."""
    array = as_chunks(chunks)
    ids = tokenizer.encode(array)
    information, overlap, shift = None, None, None
    if shifted is not None:
        overlap, shift = overlap_and_shift(ids, tokenizer.encode(as_chunks(shifted, "shifted")))
    if tasks is not None and episodes is not None:
        information = task_information(ids, tasks, episodes, positional=not tokenizer.variable_length)
    return {
        "tokenizer": tokenizer.tokenizer_type,
        "n_chunks": int(array.shape[0]),
        "reconstruction": reconstruction_error(tokenizer, array),
        "tokens_per_chunk": token_counts(ids),
        "vocabulary": vocabulary_usage(ids, tokenizer.vocab_size),
        "redundancy": codebook_redundancy(tokenizer),
        "temporal_overlap": overlap,
        "overlap_shift": shift,
        "position_mutual_information_bits": position_mutual_information(ids),
        "bigram": bigram_gain(ids),
        "task_information": information,
    }


def common_horizon(tokenizers: list[ActionTokenizer]) -> int:
    """The horizon the tokenizers share; a ConfigError when they differ (their reports would not compare)."""
    horizons = {t.horizon for t in tokenizers}
    if len(horizons) != 1:
        raise ConfigError(
            f"the tokenizers have different horizons {sorted(horizons)}; compare like with like"
        )
    return horizons.pop()


def format_report_table(reports: list[dict]) -> str:
    """One row per :func:`report` (as ``vla tokenizer report`` prints them)."""
    header = (
        f"{'tokenizer':<12} {'tokens/chunk':>13} {'MSE':>9} {'max err':>8} {'vocab used':>12} "
        f"{'perplexity':>10} {'overlap':>8} {'pos. MI':>8} {'bigram gain':>11} {'task acc.':>10} {'task MI':>8}"
    )
    lines = [header]
    for r in reports:
        tpc, rec, voc = r["tokens_per_chunk"], r["reconstruction"], r["vocabulary"]
        lines.append(
            f"{r['tokenizer']:<12} {tpc['mean']:>6.1f} / {tpc['max']:<4.0f} {rec['mse']:>9.2e} {max(rec['max_abs_per_dim']):>8.3f} "
            f"{voc['used']:>5.0f} / {voc['vocab_size']:<5.0f} {voc['perplexity']:>10.1f} {r['temporal_overlap']:>8.3f} "
            f"{r['position_mutual_information_bits']:>8.3f} {r['bigram']['gain_bits']:>11.3f} "
            + (
                f"{info['accuracy']:>10.2f} {info['mutual_information_bits']:>8.2f}"
                if (info := r.get("task_information"))
                else f"{'-':>10} {'-':>8}"
            )
        )
    return "\n".join(lines)
