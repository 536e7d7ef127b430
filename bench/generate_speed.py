"""Demonstrations per hour that ``vla data generate`` records on this machine, with 1 and 2 workers.

    OMP_NUM_THREADS=1 .venv/bin/python bench/generate_speed.py --out outputs/bench/generate_speed.json

Each run records ``--episodes`` full-length expert episodes (standard step limit, stopping at success) of
one suite and task from scratch, both cameras at 256x256, into a LeRobotDataset; the wall time includes
simulator start-up, rendering, the staged files and the final LeRobotDataset write.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from vla.testing import write_result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="outputs/bench/generate_speed.json")
    parser.add_argument("--suite", default="libero_object")
    parser.add_argument("--task", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", type=Path, help="move the last run's dataset here (for other benchmarks)")
    args = parser.parse_args()

    from vla.data.record import GENERATION_FILE, generate_episodes

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            start = time.perf_counter()
            out = generate_episodes(
                Path(tmp) / f"w{workers}", (args.suite,), (args.task,), args.episodes, workers=workers
            )
            seconds = time.perf_counter() - start
            report = json.loads((out / "meta" / GENERATION_FILE).read_text())
            frames = sum(sum(row["steps"]) for row in report["per_task"].values())
            results[f"{workers}_workers"] = {
                "workers": workers,
                "episodes": args.episodes,
                "successes": report["overall"]["successes"],
                "frames": frames,
                "seconds": round(seconds, 1),
                "record_seconds": report["record_seconds_this_run"],
                "demos_per_hour": round(3600 * args.episodes / seconds, 1),
                "frames_per_s": round(frames / seconds, 2),
            }
        if args.keep:
            if args.keep.exists():
                shutil.rmtree(args.keep)
            args.keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(out, args.keep)
    write_result(
        args.out,
        {"benchmark": "LIBERO demonstrations recorded per hour (CPU)", "suite": args.suite, "task": args.task,
         "results": results},
    )  # fmt: skip


if __name__ == "__main__":
    main()
