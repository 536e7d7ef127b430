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
from pathlib import Path

from vla.testing import write_result

ROOT = Path(__file__).resolve().parents[1]


def run(dataset: Path, out: Path, processes: int, steps: int, batch_size: int) -> list[dict]:
    train = ["-m", "vla.train", str(ROOT / "recipes/tiny_cpu.yaml"), f"data.dataset={dataset}",
             f"training.output_dir={out}", f"training.steps={steps}", f"training.batch_size={batch_size}",
             "training.report_to=[]", "training.warmup_steps=0"]  # fmt: skip
    if processes == 1:
        cmd = [sys.executable, *train]
    else:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               str(ROOT / "recipes/accelerate/cpu2.yaml"), "--num_processes", str(processes), *train]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="outputs/bench/train_throughput.json")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=4, help="per process")
    parser.add_argument(
        "--dataset", help="LeRobotDataset folder (default: a synthetic one, public LIBERO schema)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        dataset = Path(args.dataset) if args.dataset else None
        if dataset is None:
            from vla.testing import write_synthetic_libero_dataset

            dataset = write_synthetic_libero_dataset(Path(tmp) / "data", episode_lengths=(60, 60))
        results = {}
        for processes in (1, 2):
            metrics = run(dataset, Path(tmp) / f"p{processes}", processes, args.steps, args.batch_size)
            first, last = metrics[args.warmup - 1], metrics[-1]
            steps = last["step"] - first["step"]
            seconds = last["elapsed_s"] - first["elapsed_s"]
            samples = steps * args.batch_size * processes
            results[f"{processes}_process"] = {
                "processes": processes,
                "global_batch": args.batch_size * processes,
                "measured_steps": steps,
                "samples_per_s": round(samples / seconds, 2),
                "step_ms": round(1000 * seconds / steps, 1),
                "final_loss": last["loss"],
            }
    one, two = results["1_process"]["samples_per_s"], results["2_process"]["samples_per_s"]
    write_result(args.out, {"benchmark": "tiny recipe training throughput (CPU)", "results": results,
                            "speedup_2_vs_1": round(two / one, 2)})  # fmt: skip


if __name__ == "__main__":
    main()
