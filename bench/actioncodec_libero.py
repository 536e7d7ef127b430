"""The LIBERO ActionCodec against FAST and binning on the same held-out LIBERO chunks of 1 s (#14's targets).

    OMP_NUM_THREADS=1 .venv/bin/python bench/actioncodec_libero.py --episodes outputs/corpus/libero_actions.npz \\
        --actioncodec vla/tokenizers/pretrained/actioncodec-libero --out outputs/bench/actioncodec_libero.json

``--episodes`` is the file ``scripts/actioncodec_libero.py prepare`` writes (the scripted expert's corpus,
episodes of every task held out as it marks them). FAST (default scale 10, vocabulary 1024, no length cut below 256
tokens) and binning (256 bins) are fitted here on the training episodes' chunks; each ActionCodec folder
was fitted on training episodes of the same expert (never on these held-out ones).
On the held-out chunks (``--max-chunks`` of them, evenly spaced) every tokenizer reports: reconstruction MSE
and max error per dimension in physical units, gripper sign flips, tokens per chunk, the share of its
vocabulary used, the temporal overlap of neighbouring chunks (aligned by the best token shift), the
calibrated dependence between token positions, and encode + decode time per chunk at batch ``--batch`` on
this CPU. The targets are checked and written next to the figures. An ActionCodec whose fit_report.json names
its corpus (and that file is here) is also measured on that corpus's training and held-out chunks
(``generalization_gap``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vla.tokenizers import ActionTokenizer

from vla.testing import write_result
from vla.tokenizers.diagnostics import chunk_pairs, gripper_sign_errors

FAST_MAX_TOKENS = 256
ROOT = Path(__file__).resolve().parents[1]


def encode_decode_ms(tokenizer, chunks: np.ndarray, batch: int, repeats: int) -> float:
    sample = chunks[:batch]
    tokenizer.decode(tokenizer.encode(sample))  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        tokenizer.decode(tokenizer.encode(sample))
    return 1000 * (time.perf_counter() - start) / repeats / len(sample)


def measure(tokenizer, test: np.ndarray, test_shifted: np.ndarray, args) -> dict:
    from vla.tokenizers.diagnostics import (
        overlap_and_shift,
        position_mutual_information,
        token_counts,
        vocabulary_usage,
    )

    ids = tokenizer.encode(test)
    decoded = tokenizer.decode(ids)
    error = decoded.actions - test
    overlap, shift = overlap_and_shift(ids, tokenizer.encode(test_shifted))
    return {
        "mse": float(np.mean(error**2)),
        "mse_per_dim": np.mean(error**2, axis=(0, 1)).round(8).tolist(),
        "max_abs_per_dim": np.abs(error).max(axis=(0, 1)).round(4).tolist(),
        "gripper_sign_errors": gripper_sign_errors(decoded.actions, test),
        "valid_fraction": float(decoded.valid.mean()),
        "tokens_per_chunk": token_counts(ids),
        "vocabulary": vocabulary_usage(ids, tokenizer.vocab_size),
        "temporal_overlap": overlap,
        "overlap_shift": shift,
        "dependence_bits": position_mutual_information(ids),
        "encode_decode_ms_per_chunk": round(encode_decode_ms(tokenizer, test, args.batch, args.repeats), 4),
    }


def targets(rows: dict, codec: str) -> dict:
    ac, fast, binning = rows[codec], rows["fast"], rows["binning-256"]
    return {
        "mse_at_most_fast": ac["mse"] <= fast["mse"],
        "tokens_at_most_half_of_fast_where_fast_needs_32": (
            None
            if fast["tokens_per_chunk"]["mean"] < 32
            else ac["tokens_per_chunk"]["mean"] <= 0.5 * fast["tokens_per_chunk"]["mean"]
        ),
        "gripper_sign_errors_zero": ac["gripper_sign_errors"] == 0,
        "codes_used_at_least_90_percent": ac["vocabulary"]["used_fraction"] >= 0.9,
        "overlap_at_least_0.7": ac["temporal_overlap"] >= 0.7,
        "dependence_below_fast_and_binning": ac["dependence_bits"]
        < min(fast["dependence_bits"], binning["dependence_bits"]),
        "encode_decode_below_1ms": ac["encode_decode_ms_per_chunk"] < 1.0,
    }


def generalization_gap(tokenizer: ActionTokenizer, source: str, max_chunks: int) -> dict | None:
    """MSE on the chunks the tokenizer was fitted on against its held-out chunks, both from the corpus its
    fit_report.json names (when that file is here): the gap is what more data could buy, the training MSE
    what a longer fit or a larger net must bring down."""
    import json

    from vla.tokenizers.base import SHIPPED_TOKENIZERS

    folder = SHIPPED_TOKENIZERS.get(source, Path(source))
    report = folder / "fit_report.json"
    corpus = (
        json.loads(report.read_text()).get("corpus", {}).get("episodes_file") if report.is_file() else None
    )
    if not corpus:
        return None
    path = (
        Path(corpus) if Path(corpus).is_absolute() else ROOT / corpus
    )  # fit reports name it from the repo root
    if not path.is_file():
        print(f"{source}: its corpus {path} is not here; no generalization gap", flush=True)
        return None
    episodes = dict(np.load(path))
    row = {"corpus": corpus}
    for split, heldout in (("training", False), ("heldout", True)):
        chunks, _ = chunk_pairs(episodes, heldout=heldout)
        chunks = chunks[np.linspace(0, len(chunks) - 1, min(max_chunks, len(chunks))).astype(int)]
        decoded = tokenizer.decode(tokenizer.encode(chunks)).actions
        row[f"{split}_chunks"] = int(len(chunks))
        row[f"{split}_mse"] = float(np.mean((decoded - chunks) ** 2))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=Path, required=True)
    parser.add_argument("--actioncodec", nargs="+", default=[], help="ActionCodec folders or names")
    parser.add_argument("--max-chunks", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="outputs/bench/actioncodec_libero.json")
    args = parser.parse_args()

    from vla.tokenizers import AutoActionTokenizer, BinningActionTokenizer, FastActionTokenizer

    episodes = dict(np.load(args.episodes))
    train, _ = chunk_pairs(episodes, heldout=False)
    test, test_shifted = chunk_pairs(episodes, heldout=True)
    keep = np.linspace(0, len(test) - 1, min(args.max_chunks, len(test))).astype(int)
    test, test_shifted = test[keep], test_shifted[keep]
    rows, fit_seconds = {}, {}
    for name, make in (
        # the published FAST has no length cap: ours (64 by default) would cut the longest 1 s chunks
        ("fast", lambda: FastActionTokenizer(horizon=train.shape[1], max_tokens=FAST_MAX_TOKENS)),
        ("binning-256", lambda: BinningActionTokenizer(horizon=train.shape[1], n_bins=256)),
    ):
        start = time.perf_counter()
        tokenizer = make().fit(train)
        fit_seconds[name] = round(time.perf_counter() - start, 1)
        rows[name] = measure(tokenizer, test, test_shifted, args)
        print(name, {k: rows[name][k] for k in ("mse", "tokens_per_chunk", "temporal_overlap")}, flush=True)
    checks = {}
    for source in args.actioncodec:
        tokenizer = AutoActionTokenizer.from_pretrained(source)
        rows[source] = measure(tokenizer, test, test_shifted, args)
        gap = generalization_gap(tokenizer, source, args.max_chunks)
        if gap:
            rows[source]["generalization_gap"] = gap
        checks[source] = targets(rows, source)
        print(
            source,
            {k: rows[source][k] for k in ("mse", "temporal_overlap", "gripper_sign_errors")},
            flush=True,
        )
    write_result(args.out, {
        "benchmark": "action tokenizers on held-out LIBERO chunks of 1 s (20 actions), scripted-expert corpus",
        "episodes": str(args.episodes),
        "train_chunks": int(len(train)),
        "heldout_chunks": int(len(test)),
        "heldout_episodes": int(episodes["heldout"].sum()),
        "fit_seconds": fit_seconds,
        "results": rows,
        "targets": checks,
    })  # fmt: skip


if __name__ == "__main__":
    main()
