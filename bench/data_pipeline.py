"""Training-data pipeline throughput: ours against plain lerobot iteration over the same data, one run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/data_pipeline.py --out outputs/bench/data_pipeline.json

Three loaders over the same LeRobotDataset, same batch size, one DataLoader process each (``--workers``
sets more), ``--batches`` timed after ``--warmup`` batches:
- ``lerobot``: ``LeRobotDataset`` with the action chunk as ``delta_timestamps`` and torch's default
  collation: what a lerobot training loop gets (images decoded, chunks padded and masked).
- ``ours_chunks``: our ``ChunkedDataset`` over the same files (same samples: chunk, pad flags, canonical
  names, gripper convention), default collation. It slices chunks from the in-memory actions column,
  where lerobot's ``delta_timestamps`` query decodes the images of every queried row.
- ``ours_model_inputs``: the same through ``VLAPolicy.collate`` with the tiny SmolVLM processor and the
  binning tokenizer: model-ready batches (image processing, chat template, action-token targets).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from vla.testing import write_result


def samples_per_s(dataset, collate_fn, batch_size: int, batches: int, warmup: int, workers: int) -> float:
    from torch.utils.data import DataLoader

    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        collate_fn=collate_fn,
        num_workers=workers,
        drop_last=True,
    )
    iterator = iter(loader)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="outputs/bench/data_pipeline.json")
    parser.add_argument(
        "--dataset", help="LeRobotDataset folder (default: a synthetic one, public LIBERO schema)"
    )
    parser.add_argument("--horizon", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    args = parser.parse_args()

    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from torch.utils.data import default_collate

    from vla.data.dataset import load_chunked_dataset
    from vla.testing import make_policy

    with tempfile.TemporaryDirectory() as tmp:
        dataset_dir = Path(args.dataset) if args.dataset else None
        if dataset_dir is None:
            from vla.testing import write_synthetic_libero_dataset

            dataset_dir = write_synthetic_libero_dataset(Path(tmp) / "data", episode_lengths=(100, 100))
        ours = load_chunked_dataset(dataset_dir, args.horizon)
        plain = LeRobotDataset(
            "local/bench",
            root=dataset_dir,
            delta_timestamps={"actions": [k / ours.fps for k in range(args.horizon)]},
        )
        policy, _ = make_policy(dataset_dir, horizon=args.horizon)
        timed = {"batch_size": args.batch_size, "batches": args.batches, "dataloader_workers": args.workers}
        rates = {
            "lerobot": samples_per_s(plain, default_collate, **_loader_args(args)),
            "ours_chunks": samples_per_s(ours, default_collate, **_loader_args(args)),
            "ours_model_inputs": samples_per_s(ours, policy.collate, **_loader_args(args)),
        }
    results = {name: {"samples_per_s": round(rate, 1)} for name, rate in rates.items()}
    write_result(
        args.out,
        {
            "benchmark": "training-data pipeline samples/s (CPU)",
            "dataset": str(args.dataset or "synthetic, 2 episodes x 100 frames, 256x256 PNG images"),
            "frames": len(ours),
            "horizon": args.horizon,
            **timed,
            "results": results,
            "ours_chunks_vs_lerobot": round(rates["ours_chunks"] / rates["lerobot"], 3),
            "model_inputs_vs_lerobot": round(rates["ours_model_inputs"] / rates["lerobot"], 3),
        },
    )


def _loader_args(args) -> dict:
    return {
        "batch_size": args.batch_size,
        "batches": args.batches,
        "warmup": args.warmup,
        "workers": args.workers,
    }


if __name__ == "__main__":
    main()
