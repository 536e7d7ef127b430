"""Writing staged episodes into a LeRobotDataset (the end of ``vla data generate``), PNG frames encoded in
this thread against lerobot's image-writer threads, one per core (what ``vla data generate`` uses).

    OMP_NUM_THREADS=1 .venv/bin/python bench/dataset_write.py --out outputs/bench/dataset_write.json

Default input: ``--episodes`` synthetic staged episodes of ``make reproduce``'s shape (134 frames, two 128 px
cameras; smooth images, which compress like rendered ones rather than like noise). ``--staging DIR`` times
real staged episodes instead (a ``vla data generate`` staging folder, ``<out>.staging``, copied before the
build removes it). The two sides run in turn ``--repeats`` times; the datasets' frames are compared.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from vla.testing import write_result


def synthetic_staging(folder: Path, episodes: int, frames: int = 134, size: int = 128) -> Path:
    import numpy as np

    rng = np.random.default_rng(0)
    task = folder / "libero_object" / "task-00"
    task.mkdir(parents=True)
    for episode in range(episodes):
        coarse = rng.integers(0, 256, (frames, 2, size // 16, size // 16, 3)).astype(np.uint8)
        images = coarse.repeat(16, axis=2).repeat(16, axis=3)  # blocky, smooth-ish scenes
        np.savez(task / f"episode-{episode:03d}.npz", image=images[:, 0], wrist_image=images[:, 1],
                 state=rng.normal(size=(frames, 8)).astype(np.float32),
                 actions=rng.normal(size=(frames, 7)).astype(np.float32),
                 kept=True, instruction="pick up the alphabet soup and place it in the basket")  # fmt: skip
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="outputs/bench/dataset_write.json")
    parser.add_argument("--staging", help="a staging folder of libero_object task 0 episodes")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import os

    import numpy as np
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from vla.data.record import EpisodeJob, _build_dataset

    with tempfile.TemporaryDirectory() as tmp:
        staging = (
            Path(args.staging) if args.staging else synthetic_staging(Path(tmp) / "staging", args.episodes)
        )
        names = sorted((staging / "libero_object" / "task-00").glob("episode-*.npz"))[: args.episodes]
        jobs = [EpisodeJob("libero_object", 0, int(p.stem.split("-")[1])) for p in names]
        sides = {"this thread": 0, f"{os.cpu_count()} image-writer threads": None}
        seconds: dict[str, list[float]] = {name: [] for name in sides}
        for repeat in range(args.repeats):
            for name, threads in sides.items():
                out = Path(tmp) / f"{threads}-{repeat}"
                start = time.perf_counter()
                _build_dataset(
                    jobs, staging, out, "local/bench", image_size=128, image_writer_threads=threads
                )
                seconds[name].append(round(time.perf_counter() - start, 2))
        frames = [LeRobotDataset("local/bench", root=Path(tmp) / f"{t}-0").hf_dataset.with_format("numpy")
                  for t in sides.values()]  # fmt: skip
        same = all(
            np.array_equal(np.stack(frames[0][k]), np.stack(frames[1][k])) for k in ("image", "wrist_image")
        )
    before, after = (statistics.mean(seconds[name]) for name in sides)
    write_result(args.out, {
        "benchmark": "writing staged episodes into a LeRobotDataset: PNG frames in this thread vs image-writer threads",
        "input": args.staging or f"synthetic ({args.episodes} episodes of 134 frames, two 128 px cameras)",
        "episodes": len(jobs), "seconds_per_repeat": seconds,
        "seconds_mean": {name: round(statistics.mean(v), 2) for name, v in seconds.items()},
        "speedup": round(before / after, 2), "same_frames": bool(same),
    })  # fmt: skip


if __name__ == "__main__":
    main()
