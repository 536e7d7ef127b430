"""Training throughput of the tiny recipe on CPU with 1 and 2 processes (real accelerate launches).

    OMP_NUM_THREADS=1 .venv/bin/python bench/train_throughput.py --out outputs/bench/train_throughput.json

Samples/s are measured over the steps after the first ``--warmup`` (model loading, first-step allocation
and process-group start-up are excluded) from the trainer's own metrics log.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from vla.testing import write_result

ROOT = Path(__file__).resolve().parents[1]


def launch(overrides: list[str], out: Path, processes: int = 1) -> list[dict]:
    """``vla.train`` on recipes/tiny_cpu.yaml with ``overrides`` (1 process, or ``accelerate launch`` with
    more); the trainer's own metrics log, one row per step."""
    train = ["-m", "vla.train", str(ROOT / "recipes/tiny_cpu.yaml"), f"training.output_dir={out}",
             "training.report_to=[]", "training.warmup_steps=0", *overrides]  # fmt: skip
    if processes == 1:
        cmd = [sys.executable, *train]
    else:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               str(ROOT / "recipes/accelerate/cpu2.yaml"), "--num_processes", str(processes), *train]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"training failed ({' '.join(cmd)}):\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def train_stage1_model(
    dataset: Path, out: Path, steps: int, batch_size: int, overrides: list[str]
) -> list[dict]:
    """One process training the stage-1 experiments' `small` model (state in the prompt, both cameras, FAST
    tokens) on ``dataset`` with ``overrides`` on top; the trainer's metrics, one row per step."""
    return launch([f"data.dataset={dataset}", "policy.base_model=small", "policy.include_state=true",
                   "tokenizer.type=fast", "tokenizer.options={vocab_size: 512}", f"training.steps={steps}",
                   f"training.batch_size={batch_size}", f"training.save_every={steps}", *overrides], out)  # fmt: skip


def throughput(metrics: list[dict], warmup: int, samples_per_step: int) -> dict:
    """Samples/s over the steps after the first ``warmup`` (loading and first-step allocation excluded)."""
    first, last = metrics[warmup - 1], metrics[-1]
    steps = last["step"] - first["step"]
    seconds = last["elapsed_s"] - first["elapsed_s"]
    return {"measured_steps": steps, "samples_per_s": round(steps * samples_per_step / seconds, 2),
            "step_ms": round(1000 * seconds / steps, 1)}  # fmt: skip


def training_dataset(path: str | None, tmp: Path) -> Path:
    """``--dataset``, else a synthetic LeRobotDataset (public LIBERO schema, 2 episodes of 60 frames)."""
    if path:
        return Path(path)
    from vla.testing import write_synthetic_libero_dataset

    return write_synthetic_libero_dataset(tmp / "data", episode_lengths=(60, 60))


def training_arguments(
    doc: str,
    out: str,
    steps: int,
    batch_size: int,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The command line of a training benchmark: --out, --steps, --warmup, --batch-size (per process),
    --dataset, and what ``extra`` adds; the measured steps are those after --warmup."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=out)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=batch_size, help="per process")
    parser.add_argument(
        "--dataset", help="LeRobotDataset folder (default: a synthetic one, public LIBERO schema)"
    )
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    if not 1 <= args.warmup < args.steps:
        parser.error(f"--warmup {args.warmup} must be at least 1 and below --steps {args.steps}")
    return args


def main() -> None:
    args = training_arguments(__doc__, "outputs/bench/train_throughput.json", steps=30, batch_size=4)

    with tempfile.TemporaryDirectory() as tmp:
        dataset = training_dataset(args.dataset, Path(tmp))
        results = {}
        for processes in (1, 2):
            overrides = [f"data.dataset={dataset}", f"training.steps={args.steps}",
                         f"training.batch_size={args.batch_size}"]  # fmt: skip
            metrics = launch(overrides, Path(tmp) / f"p{processes}", processes)
            results[f"{processes}_process"] = {
                "processes": processes,
                "global_batch": args.batch_size * processes,
                **throughput(metrics, args.warmup, args.batch_size * processes),
                "final_loss": metrics[-1]["loss"],
            }
    one, two = results["1_process"]["samples_per_s"], results["2_process"]["samples_per_s"]
    write_result(args.out, {"benchmark": "tiny recipe training throughput (CPU)", "results": results,
                            "speedup_2_vs_1": round(two / one, 2)})  # fmt: skip


if __name__ == "__main__":
    main()
