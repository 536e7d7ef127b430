"""``make demo``: the whole pipeline on the embedded default, end to end, in a few minutes on a CPU.

1. record scripted-expert LIBERO episodes in the real simulator into a LeRobotDataset (public schema);
2. fit an action tokenizer on their action chunks and save it;
3. train the tiny SmolVLM with ``accelerate launch`` (2 CPU processes) and write a checkpoint;
4. load the checkpoint and roll it out in LIBERO, writing results.json and videos.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from vla.distributed import launch_command, run_training_subprocess
from vla.errors import TrainingStopped

REPO_ROOT = Path(__file__).resolve().parents[1]
SUITE, TASK_ID = "libero_object", 0
#: Tokenizer options sized for a CPU demo (the defaults are the paper's GPU-sized settings): ActionCodec
#: with 8 tokens from 256 codes, a narrow one-layer network and 400 steps fits in about half a minute.
DEMO_TOKENIZER_OPTIONS = {
    "actioncodec": {
        "num_tokens": 8,
        "codebook_size": 256,
        "dim": 64,
        "depth": 1,
        "latent_dim": 64,
        # the released LayerScale 1e-2 and EMA decay 0.99 learn too slowly for a 400-step CPU fit
        "layer_scale": 1.0,
        "ema_decay": 0.9,
        "steps": 400,
        "batch_size": 128,
    },
}


def _recipes_dir() -> Path:
    recipes = REPO_ROOT / "recipes"
    if not recipes.is_dir():
        raise FileNotFoundError(f"recipes folder not found at {recipes}; run the demo from a checkout of vla")
    return recipes


def train_command(out: Path, processes: int, steps: int) -> list[str]:
    recipes = _recipes_dir()
    overrides = [
        f"data.dataset={out / 'dataset'}",
        f"tokenizer.pretrained={out / 'tokenizer'}",
        f"training.output_dir={out / 'train'}",
        f"training.steps={steps}",
        "training.overwrite=true",  # a rerun of the demo trains afresh
    ]
    args = [str(recipes / "tiny_cpu.yaml"), *overrides]
    return launch_command("vla.train", args, processes, recipes / "accelerate" / "cpu2.yaml")


def _dataset_complete(folder: Path, episodes: int) -> bool:
    info = folder / "meta" / "info.json"
    return info.is_file() and json.loads(info.read_text()).get("total_episodes") == episodes


def run_demo(
    out: Path,
    processes: int = 2,
    tokenizer: str = "binning",
    episodes: int = 3,
    record_steps: int | None = None,
    train_steps: int = 60,
    eval_episodes: int = 2,
    eval_max_steps: int = 60,
) -> dict:
    from vla.config import load_config
    from vla.data.dataset import load_chunked_dataset
    from vla.data.record import record_scripted_episodes
    from vla.eval.config import EvalConfig
    from vla.eval.results import format_table
    from vla.eval.runner import evaluate
    from vla.train.config import TrainConfig
    from vla.train.tokenizer import fit_action_tokenizer

    out = out.resolve()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    print(
        f"[1/4] recording {episodes} expert episodes of {SUITE} task {TASK_ID} in the LIBERO simulator",
        flush=True,
    )
    if _dataset_complete(out / "dataset", episodes):
        print(f"      reusing {out / 'dataset'}")
    else:
        record_scripted_episodes(
            out / "dataset", SUITE, (TASK_ID,), episodes, max_steps=record_steps, overwrite=True
        )
    timings["record_s"] = time.perf_counter() - t0

    print(f"[2/4] fitting a {tokenizer} action tokenizer", flush=True)
    t = time.perf_counter()
    # the horizon is the training recipe's (policy.horizon): the tokenizer fitted here must match it
    horizon = load_config(TrainConfig, _recipes_dir() / "tiny_cpu.yaml").policy.horizon
    action_tokenizer = fit_action_tokenizer(
        tokenizer,
        load_chunked_dataset(out / "dataset", horizon),
        horizon,
        DEMO_TOKENIZER_OPTIONS.get(tokenizer),
    )
    action_tokenizer.save_pretrained(out / "tokenizer")
    print(f"      {action_tokenizer!r}")
    timings["tokenizer_s"] = time.perf_counter() - t

    print(f"[3/4] training the tiny SmolVLM with {processes} process(es)", flush=True)
    t = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    status = run_training_subprocess(train_command(out, processes, train_steps), env, REPO_ROOT)
    if status != 0:
        raise TrainingStopped(f"training stopped (exit status {status}); see its output above")
    checkpoint = out / "train" / "checkpoints" / "last"
    timings["train_s"] = time.perf_counter() - t

    print(f"[4/4] evaluating {checkpoint} in LIBERO ({eval_episodes} episodes)", flush=True)
    t = time.perf_counter()
    results = evaluate(
        EvalConfig(
            policy=str(checkpoint),
            suite=SUITE,
            task_ids=(TASK_ID,),
            episodes_per_task=eval_episodes,
            max_steps=eval_max_steps,
            video="all",
            output_dir=str(out / "eval"),
            overwrite=True,  # the checkpoint was just trained: never resume a previous demo's episodes
        )
    )
    timings["eval_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    print(format_table(results))
    summary = {
        "dataset": str(out / "dataset"),
        "tokenizer": str(out / "tokenizer"),
        "checkpoint": str(checkpoint.resolve()),
        "results": str(out / "eval" / "results.json"),
        "videos": sorted(str(p) for p in (out / "eval" / "videos").glob("*.mp4")),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=1))
    print("\noutputs:")
    for key in ("dataset", "tokenizer", "checkpoint", "results"):
        print(f"  {key:<10} {summary[key]}")
    print(f"  {'videos':<10} {out / 'eval' / 'videos'} ({len(summary['videos'])} files)")
    print(f"  timings    {summary['timings_s']}")
    return summary
