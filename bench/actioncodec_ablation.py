"""ActionCodec ablation on LIBERO chunks: token count, codebook size, overlap and contrastive terms.

    OMP_NUM_THREADS=1 .venv/bin/python bench/actioncodec_ablation.py --dataset outputs/data/object5x3 \\
        --out outputs/bench/actioncodec_ablation.json

Every variant is fitted with the same steps and seed on the chunks of all but the last episode of each
task and measured with ``vla.tokenizers.diagnostics``: reconstruction on the held-out episodes (physical
units), and on all chunks the temporal overlap, vocabulary use, dependence between positions and the
task information of the tokens. ``--variants`` picks a subset by name.
"""

from __future__ import annotations

import argparse
import json
import time

from vla.testing import write_result

BASE = {"dim": 64, "depth": 2, "heads": 4, "steps": 800, "batch_size": 256, "warmup_steps": 50, "lr": 2e-3}
VARIANTS = {
    "8 tokens x 256": {"num_tokens": 8, "codebook_size": 256},
    "16 tokens x 256": {"num_tokens": 16, "codebook_size": 256},
    "32 tokens x 256": {"num_tokens": 32, "codebook_size": 256},
    "16 tokens x 2048": {"num_tokens": 16, "codebook_size": 2048},
    "16 x 256, no overlap": {"num_tokens": 16, "codebook_size": 256, "overlap_weight": 0.0},
    "16 x 256, contrastive": {"num_tokens": 16, "codebook_size": 256, "contrastive_weight": 0.1},
    "16 x 256, + 1 RVQ stage": {"num_tokens": 16, "codebook_size": 256, "rvq_stages": 1},
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", default="outputs/bench/actioncodec_ablation.json")
    parser.add_argument("--horizon", type=int, default=8)
    parser.add_argument("--steps", type=int, default=BASE["steps"])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()

    import numpy as np

    from vla.data.dataset import (
        frames_with_successor,
        load_chunked_dataset,
        shifted_chunk_labels,
        shifted_chunk_pairs,
    )
    from vla.model.observation_features import observation_features
    from vla.tokenizers import ActionCodecTokenizer
    from vla.tokenizers.diagnostics import report

    dataset = load_chunked_dataset(args.dataset, args.horizon)
    chunks, shifted = shifted_chunk_pairs(dataset, args.horizon)
    tasks, episodes = shifted_chunk_labels(dataset)
    last_of_task = {t: episodes[tasks == t].max() for t in np.unique(tasks)}
    held_out = np.array([episodes[i] == last_of_task[tasks[i]] for i in range(len(tasks))])
    train = ~held_out
    keep = frames_with_successor(dataset)
    observations = None
    results = {}
    for name in args.variants:
        options = {**BASE, "steps": args.steps, "horizon": args.horizon, "action_dim": chunks.shape[-1],
                   **VARIANTS[name]}  # fmt: skip
        tokenizer = ActionCodecTokenizer(**options)
        extra = {}
        if tokenizer.uses_observations:
            observations = observations if observations is not None else observation_features(dataset)[keep]
            extra["observations"] = observations[train]
        start = time.perf_counter()
        tokenizer.fit(chunks[train], shifted[train], progress=False, **extra)
        fit_s = time.perf_counter() - start
        measured = report(tokenizer, chunks, shifted, tasks, episodes)
        held = report(tokenizer, chunks[held_out])["reconstruction"]
        results[name] = {
            "options": VARIANTS[name],
            "fit_s": round(fit_s, 1),
            "tokens_per_chunk": tokenizer.tokens_per_chunk,
            "vocab_size": tokenizer.vocab_size,
            "heldout_mse": held["mse"],
            "heldout_max_abs_error": max(held["max_abs_per_dim"]),
            "temporal_overlap": measured["temporal_overlap"],
            "codes_used": measured["vocabulary"]["used"],
            "perplexity": measured["vocabulary"]["perplexity"],
            "position_mi_bits": measured["position_mutual_information_bits"],
            "bigram_gain_bits": measured["bigram"]["gain_bits"],
            "task_accuracy": (measured["task_information"] or {}).get("accuracy"),
            "task_mi_bits": (measured["task_information"] or {}).get("mutual_information_bits"),
        }
        print(name, json.dumps(results[name]), flush=True)
    write_result(args.out, {"benchmark": "ActionCodec ablation on LIBERO chunks (CPU)", "dataset": args.dataset,
                            "chunks": int(len(chunks)), "heldout_chunks": int(held_out.sum()), "base": BASE,
                            "steps": args.steps, "results": results})  # fmt: skip


if __name__ == "__main__":
    main()
