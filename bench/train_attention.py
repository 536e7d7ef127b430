"""Training the stage-1 model on CPU with SDPA against eager attention (``policy.attn_implementation``).

    OMP_NUM_THREADS=1 .venv/bin/python bench/train_attention.py \\
        --dataset outputs/experiments/libero_object_task0_h20_fast_100/data --out outputs/bench/train_attention.json

One process, the stage-1 recipe's model and settings (`small`, state in the prompt, both cameras, FAST tokens on
1 s chunks, bfloat16 autocast unless ``--mixed-precision no``, batch 8), the same seed and data order for both
implementations. The two run in turn ``--repeats`` times (sdpa, eager, sdpa, eager, ...) so that a machine
that slows down part-way does not favour one side; samples/s is the median over the repeats, each measured
after ``--warmup`` steps from the trainer's own metrics log. The loss of every step of the first repeat is kept for both, so a speed-up that
changed what is learned would show. Without CUDA ``attn_implementation=auto`` picks eager under bf16 autocast and SDPA in
float32: this benchmark, run both ways (``--mixed-precision no``), is the evidence for that choice.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.train_throughput import throughput, train_stage1_model, training_arguments, training_dataset
from vla.testing import write_result
from vla.versions import cpu_bf16_flags

IMPLEMENTATIONS = ("sdpa", "eager")
#: The stage-1 recipe (recipes/experiments/libero_object_task0_h20_fast.yaml) on top of the stage-1 model
#: (tokenizer.options replaces the launcher's whole, so it repeats vocab_size).
STAGE1 = ["policy.horizon=20", "tokenizer.options={vocab_size: 512, max_tokens: 128}"]


def main() -> None:
    args = training_arguments(__doc__, "outputs/bench/train_attention.json", steps=30, batch_size=8,
                              extra=_options)  # fmt: skip
    overrides = [*STAGE1, f"training.mixed_precision={args.mixed_precision}"]
    with tempfile.TemporaryDirectory() as tmp:
        dataset = training_dataset(args.dataset, Path(tmp))
        runs: dict[str, list[dict]] = {name: [] for name in IMPLEMENTATIONS}
        losses: dict[str, list[float]] = {}
        for repeat in range(args.repeats):
            for name in IMPLEMENTATIONS:
                out = Path(tmp) / f"{name}-{repeat}"
                metrics = train_stage1_model(dataset, out, args.steps, args.batch_size,
                                             [*overrides, f"policy.attn_implementation={name}"])  # fmt: skip
                runs[name].append(throughput(metrics, args.warmup, args.batch_size))
                losses.setdefault(name, [round(m["loss"], 4) for m in metrics])
    results = {
        name: {
            "samples_per_s": round(statistics.median(run["samples_per_s"] for run in runs[name]), 2),
            "samples_per_s_per_repeat": [run["samples_per_s"] for run in runs[name]],
            "step_ms_per_repeat": [run["step_ms"] for run in runs[name]],
            "loss_per_step": losses[name],
        }
        for name in IMPLEMENTATIONS
    }
    sdpa, eager = (results[name] for name in IMPLEMENTATIONS)
    pairs = zip(sdpa["loss_per_step"], eager["loss_per_step"], strict=True)
    write_result(args.out, {
        "benchmark": f"stage-1 model training on CPU, SDPA vs eager attention (1 process, mixed_precision="
        f"{args.mixed_precision})",
        "dataset": str(args.dataset or "synthetic (2 episodes of 60 frames)"),
        "cpu_bf16_flags": cpu_bf16_flags(),
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "overrides": overrides,
        "results": results,
        "speedup_eager_vs_sdpa": round(eager["samples_per_s"] / sdpa["samples_per_s"], 2),
        "max_loss_difference": round(max(abs(a - b) for a, b in pairs), 4),
    })  # fmt: skip


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=2, help="runs of each implementation, alternating")
    parser.add_argument("--mixed-precision", default="bf16", choices=("bf16", "no"),
                        help="the stage-1 recipe's bf16 autocast, or float32")  # fmt: skip


if __name__ == "__main__":
    main()
