"""Command-line start-up: ``vla ... --help`` against lerobot's own commands, same machine, one run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/cli_startup.py --out outputs/bench/cli_startup.json

Each command is run ``--repeats`` times as a fresh process (after one untimed run that warms the file
cache) and the median wall time is reported: what a user waits for before ``--help`` prints. ``vla``
imports its heavy dependencies (torch, transformers, LIBERO) only inside the command that needs them;
lerobot's console scripts import torch and their config classes first.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from vla.testing import write_result

#: (name, command): ours first, then the lerobot command that does the same job.
COMMANDS: list[tuple[str, list[str]]] = [
    ("vla --help", ["vla", "--help"]),
    ("vla train --help", ["vla", "train", "--help"]),
    ("vla eval --help", ["vla", "eval", "--help"]),
    ("lerobot-train --help", ["lerobot-train", "--help"]),
    ("lerobot-eval --help", ["lerobot-eval", "--help"]),
]
#: Which lerobot command each of ours is compared with.
PEERS = {"vla train --help": "lerobot-train --help", "vla eval --help": "lerobot-eval --help"}


def time_command(argv: list[str], repeats: int) -> dict:
    executable = shutil.which(argv[0], path=str(Path(sys.executable).parent)) or shutil.which(argv[0])
    if executable is None:
        return {"error": f"{argv[0]} not found next to {sys.executable} or on PATH"}
    command = [executable, *argv[1:]]
    subprocess.run(command, capture_output=True, check=True)  # warm the file cache, untimed
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        seconds.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(seconds), 3), "min_s": round(min(seconds), 3),
            "runs": repeats}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="outputs/bench/cli_startup.json")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    results = {name: time_command(argv, args.repeats) for name, argv in COMMANDS}
    speedups = {
        ours: round(results[peer]["median_s"] / results[ours]["median_s"], 1)
        for ours, peer in PEERS.items()
        if "median_s" in results[ours] and "median_s" in results[peer]
    }
    write_result(
        args.out,
        {"benchmark": "command-line start-up to --help (median wall time, fresh process)",
         "results": results, "speedup_vs_lerobot": speedups},
    )  # fmt: skip


if __name__ == "__main__":
    main()
