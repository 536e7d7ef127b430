"""The LIBERO ActionCodec vla ships: an action corpus from the scripted expert -> one small file -> fit.

1. Corpus (CPU, physics only: nothing is rendered; random placements, never an evaluation state):
       vla data generate --suite libero_90,libero_spatial,libero_object,libero_goal,libero_10 \\
           --episodes-per-task 20 --no-images --action-noise 0.1 --workers 2 --out outputs/corpus/libero_actions
2. Episodes -> one compressed file of action sequences, held out by episode (every 10th episode of a task):
       python scripts/actioncodec_libero.py prepare --corpus outputs/corpus/libero_actions \\
           --out outputs/corpus/libero_actions.npz
3. Fit (on the GPU when there is one; this step needs only torch and vector-quantize-pytorch, no lerobot):
       python scripts/actioncodec_libero.py fit --episodes outputs/corpus/libero_actions.npz \\
           --preset compact --device cuda --out outputs/actioncodec_libero/compact
   It writes the tokenizer folder and ``fit_report.json`` (loss history, fit time, held-out reconstruction).

Chunks are 1 s of LIBERO control (20 actions at 20 Hz, the released ``a_franka_libero_20hz`` embodiment), one per
frame, padded with the episode's last action as the training data loader pads them; each chunk is paired with
the chunk one step later (the overlap term). ``bench/actioncodec_libero.py`` compares the result with FAST and
binning on the held-out episodes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from vla.tokenizers.diagnostics import chunk_pairs, gripper_sign_errors
from vla.versions import machine_info, package_versions

HORIZON = 20
HELDOUT_EVERY = 10
CALIBRATION_STEPS = 60
#: Named configurations: ``base`` is the released ActionCodec-Base; ``compact`` fits in the repo (< 5 MB in
#: float16) and is the one vla ships when its held-out error holds.
PRESETS: dict[str, dict] = {
    "base": {"dim": 256, "depth": 6, "heads": 8, "latent_dim": 512},
    "compact": {"dim": 192, "depth": 2, "heads": 6, "latent_dim": 128},
    "compact-deep": {"dim": 128, "depth": 4, "heads": 4, "latent_dim": 128},
    "compact-rvq": {"dim": 192, "depth": 2, "heads": 6, "latent_dim": 128, "rvq_stages": 2},
    "small": {"dim": 96, "depth": 2, "heads": 4, "latent_dim": 64},
}
COMMON = {"horizon": HORIZON, "action_dim": 7, "freq_hz": 20.0, "num_tokens": 16, "codebook_size": 2048}


def prepare(corpus: Path, out: Path, heldout_every: int = HELDOUT_EVERY, episodes_per_task: int = 0) -> None:
    """The corpus -> ``out`` (.npz): actions (N, 7) float32, ``starts`` (E + 1) episode boundaries, and per
    episode its suite, task, index within the task, success, placement seed and held-out flag. ``corpus`` is
    the LeRobotDataset or, while generation still runs, its ``.staging`` folder (whole episodes only);
    ``episodes_per_task`` keeps episodes 0..N-1 of each task (what ``--episodes-per-task N`` records)."""
    rows = _staged_episodes(corpus) if (corpus / "settings.json").is_file() else _dataset_episodes(corpus)
    if episodes_per_task:
        rows = [r for r in rows if r["episode"] < episodes_per_task]
    rows.sort(key=lambda r: (r["suite"], r["task_id"], r["episode"]))
    starts = np.cumsum([0] + [len(r["actions"]) for r in rows])
    np.savez_compressed(
        out,
        actions=np.concatenate([r["actions"] for r in rows]).astype(np.float32),
        starts=starts,
        suite=np.array([r["suite"] for r in rows]),
        task=np.array([r["task_id"] for r in rows]),
        episode=np.array([r["episode"] for r in rows]),
        success=np.array([r["success"] for r in rows]),
        heldout=np.array([r["episode"] % heldout_every == heldout_every - 1 for r in rows]),
        placement_seed=np.array([r["placement_seed"] for r in rows]),
    )
    held = sum(r["episode"] % heldout_every == heldout_every - 1 for r in rows)
    tasks = len({(r["suite"], r["task_id"]) for r in rows})
    print(f"{out}: {len(rows)} episodes of {tasks} tasks ({held} held out), {starts[-1]} frames")


def _staged_episodes(staging: Path) -> list[dict]:
    rows = []
    for file in sorted(staging.glob("*/task-*/episode-*.npz")):
        with np.load(file) as data:
            if not bool(data["kept"]):
                continue
            rows.append({
                "suite": file.parent.parent.name,
                "task_id": int(file.parent.name.removeprefix("task-")),
                "episode": int(file.stem.removeprefix("episode-")),
                "success": bool(data["success"]),
                "placement_seed": int(data["seed"]),
                "actions": data["actions"],
            })  # fmt: skip
    return rows


def _dataset_episodes(corpus: Path) -> list[dict]:
    import pyarrow.parquet as pq

    report = json.loads((corpus / "meta" / "vla_generation.json").read_text())
    kept = [e for e in report["episodes"] if e["kept"]]
    tables = [
        pq.read_table(f, columns=["actions", "episode_index"])
        for f in sorted(corpus.glob("data/*/*.parquet"))
    ]
    actions = np.concatenate([np.stack(t.column("actions").to_numpy(zero_copy_only=False)) for t in tables])
    episode_index = np.concatenate([t.column("episode_index").to_numpy() for t in tables])
    if episode_index.max() + 1 != len(kept):
        raise SystemExit(
            f"{corpus}: {episode_index.max() + 1} episodes in the data, {len(kept)} kept in its report"
        )
    return [{**e, "actions": actions[episode_index == i]} for i, e in enumerate(kept)]


def heldout_metrics(tokenizer, chunks: np.ndarray) -> dict:
    """Reconstruction of held-out chunks in physical units, gripper sign flips, code use."""
    ids = tokenizer.encode(chunks)
    decoded = tokenizer.decode(ids).actions
    error = decoded - chunks
    return {
        "n_chunks": int(len(chunks)),
        "mse": float(np.mean(error**2)),
        "mse_per_dim": np.mean(error**2, axis=(0, 1)).round(8).tolist(),
        "max_abs_per_dim": np.abs(error).max(axis=(0, 1)).round(5).tolist(),
        "gripper_sign_errors": gripper_sign_errors(decoded, chunks),
        "codes_used": int(np.unique(ids).size),
    }


def fit(args: argparse.Namespace) -> None:
    from vla.config import to_dict
    from vla.tokenizers import ActionCodecTokenizer

    episodes = dict(np.load(args.episodes))
    chunks, shifted = chunk_pairs(episodes, heldout=False)
    test, _ = chunk_pairs(episodes, heldout=True)
    options = {**COMMON, **PRESETS[args.preset], **json.loads(args.options or "{}")}
    options.update(steps=args.steps, batch_size=args.batch_size, lr=args.lr, device=args.device)
    if args.time_budget:
        # One lent GPU session: time a short fit, then take as many steps (in 500s) as fit the budget.
        start = time.perf_counter()
        ActionCodecTokenizer(**{**options, "steps": CALIBRATION_STEPS}).fit(chunks, shifted, progress=False)
        per_step = (time.perf_counter() - start) / CALIBRATION_STEPS
        options["steps"] = max(500, int(0.9 * args.time_budget / per_step) // 500 * 500)
        print(f"{args.preset}: {per_step * 1000:.1f} ms/step -> {options['steps']} steps", flush=True)
    tokenizer = ActionCodecTokenizer(**options)
    print(f"{args.preset}: {len(chunks)} training chunks, {len(test)} held-out, {options}", flush=True)
    start = time.perf_counter()
    out = Path(args.out)
    resume = {"checkpoint_dir": f"{out}.fit-state", "checkpoint_every": args.checkpoint_every}
    tokenizer.fit(chunks, shifted, progress=args.progress, **(resume if args.checkpoint_every else {}))
    seconds = time.perf_counter() - start
    tokenizer.save_pretrained(out)
    params = sum(p.numel() for p in tokenizer.net.parameters())
    report = {
        "preset": args.preset,
        "config": to_dict(tokenizer.config),
        "parameters": params,
        "fit_seconds": round(seconds, 1),
        "machine": machine_info(),
        "versions": package_versions("vector-quantize-pytorch"),
        "train_chunks": int(len(chunks)),
        "heldout": heldout_metrics(tokenizer, test),
        "history": tokenizer.history,
    }
    (out / "fit_report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "history"}, indent=1))


def ship(args: argparse.Namespace) -> None:
    """A fitted folder -> the folder vla ships: its weights (``--half``: in float16, loaded into float32), the
    fit report, a model card. Refuses a result over ``--max-mb``."""
    import shutil

    from safetensors.torch import load_file, save_file

    source, out = Path(args.tokenizer), Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy(source / "action_tokenizer.json", out)
    weights = load_file(str(source / "actioncodec.safetensors"))
    if args.half:  # only when float32 would not fit: float16 can move a latent across a code boundary
        weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    save_file(weights, str(out / "actioncodec.safetensors"))
    shutil.copy(source / "fit_report.json", out)  # config, fit time, held-out figures, the loss curve
    card = Path(args.card).read_text() if args.card else ""
    (out / "README.md").write_text(card)
    size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    if size > args.max_mb:
        shutil.rmtree(out)
        raise SystemExit(f"{out}: {size:.1f} MB is over --max-mb {args.max_mb}")
    print(f"{out}: {size:.2f} MB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="corpus LeRobotDataset -> episodes .npz")
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--heldout-every", type=int, default=HELDOUT_EVERY, help="episode e of a task is held out "
                   "when e %% N == N - 1")  # fmt: skip
    p.add_argument("--episodes-per-task", type=int, default=0, help="keep episodes 0..N-1 of each task")
    p = sub.add_parser("fit", help="fit an ActionCodec on the episodes file")
    p.add_argument("--episodes", type=Path, required=True)
    p.add_argument("--preset", choices=sorted(PRESETS), default="compact")
    p.add_argument("--options", default="", help="JSON over the preset, e.g. '{\"depth\": 3}'")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--checkpoint-every", type=int, default=0, help="save the fit state to OUT.fit-state "
                   "every N steps; the same command resumes from it")  # fmt: skip
    p.add_argument("--time-budget", type=float, default=0, help="seconds: choose --steps to fit in them")
    p.add_argument("--out", required=True)
    p = sub.add_parser("ship", help="a fitted folder -> float16 weights, its fit report, a model card")
    p.add_argument("--tokenizer", required=True)
    p.add_argument(
        "--card", default="", help="model card (markdown with YAML metadata) to write as README.md"
    )
    p.add_argument("--max-mb", type=float, default=5.0)
    p.add_argument("--half", action="store_true", help="store the weights in float16")
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "ship":
        ship(args)
    elif args.command == "prepare":
        prepare(args.corpus, args.out, args.heldout_every, args.episodes_per_task)
    else:
        fit(args)


if __name__ == "__main__":
    sys.exit(main())
