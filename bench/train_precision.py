"""Training the stage-1 model on CPU in float32 against bfloat16 autocast (``training.mixed_precision``).

    OMP_NUM_THREADS=1 .venv/bin/python bench/train_precision.py \\
        --dataset outputs/experiments/libero_object_task0/data --out outputs/bench/train_precision.json

One process, the `small` model of the stage-1 experiments (state in the prompt, both cameras, FAST tokens,
batch 8), the same seed and data order for both precisions: samples/s over the steps after ``--warmup``
(from the trainer's own metrics log) and the loss of every step, so that a speed-up that changed what is
learned would show. bfloat16 matrix products need CPU support (``avx512_bf16`` or ``amx_bf16``; the flags
are recorded): without it autocast can be slower than float32.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.train_throughput import throughput, train_stage1_model, training_arguments, training_dataset
from vla.testing import write_result
from vla.versions import cpu_bf16_flags

PRECISIONS = {"float32": "no", "bfloat16 autocast": "bf16"}


def main() -> None:
    args = training_arguments(__doc__, "outputs/bench/train_precision.json", steps=16, batch_size=8)

    with tempfile.TemporaryDirectory() as tmp:
        dataset = training_dataset(args.dataset, Path(tmp))
        results = {}
        for name, precision in PRECISIONS.items():
            overrides = [f"training.mixed_precision={precision}"]
            metrics = train_stage1_model(
                dataset, Path(tmp) / precision, args.steps, args.batch_size, overrides
            )
            results[name] = {
                "mixed_precision": precision,
                **throughput(metrics, args.warmup, args.batch_size),
                "loss_per_step": [round(m["loss"], 4) for m in metrics],
            }
    fp32, bf16 = (results[name] for name in PRECISIONS)
    losses = zip(fp32["loss_per_step"], bf16["loss_per_step"], strict=True)
    write_result(args.out, {
        "benchmark": "stage-1 model training on CPU, float32 vs bfloat16 autocast (1 process)",
        "dataset": str(args.dataset or "synthetic (2 episodes of 60 frames)"),
        "cpu_bf16_flags": cpu_bf16_flags(),
        "batch_size": args.batch_size,
        "results": results,
        "speedup_bf16_vs_fp32": round(bf16["samples_per_s"] / fp32["samples_per_s"], 2),
        "max_loss_difference": round(max(abs(a - b) for a, b in losses), 4),
    })  # fmt: skip


if __name__ == "__main__":
    main()
