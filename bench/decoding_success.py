"""Success of the tiny recipe with each decoding mode: same data, tokenizer, steps and LIBERO episodes.

    OMP_NUM_THREADS=1 .venv/bin/python bench/decoding_success.py --dataset outputs/data/object5x3 \\
        --out outputs/bench/decoding_success.json

For each mode (autoregressive, parallel, blockwise) the tiny recipe trains ``--steps`` steps in one
process from the same seed with the same fitted binning tokenizer (``--n-bins``, fixed length, which all
three modes need), then the checkpoint is rolled out on ``--tasks`` of libero_object for
``--episodes`` episodes each (``--max-steps`` per episode). The final training loss and the success rate
are recorded. At CPU scale the tiny model is far from solving tasks: this compares the modes on equal
terms and checks that each one trains and acts end to end; the success figures that matter come from the
full recipe on a GPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vla.testing import write_result

ROOT = Path(__file__).resolve().parents[1]

MODES = ("autoregressive", "parallel", "blockwise")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", default="outputs/bench/decoding_success.json")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--horizon", type=int, default=8)
    parser.add_argument("--n-bins", type=int, default=64)
    parser.add_argument("--tasks", type=int, nargs="+", default=[0])
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=120)
    parser.add_argument("--modes", nargs="+", default=list(MODES))
    args = parser.parse_args()

    from vla.data.dataset import load_chunked_dataset
    from vla.eval.config import EvalConfig
    from vla.eval.runner import evaluate
    from vla.train.tokenizer import fit_action_tokenizer

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        dataset = load_chunked_dataset(args.dataset, args.horizon)
        tokenizer_dir = Path(tmp) / "tokenizer"
        fit_action_tokenizer("binning", dataset, args.horizon, {"n_bins": args.n_bins}).save_pretrained(
            tokenizer_dir
        )
        for mode in args.modes:
            out = Path(tmp) / mode
            cmd = [sys.executable, "-m", "vla.train", str(ROOT / "recipes/tiny_cpu.yaml"),
                   f"data.dataset={args.dataset}", f"policy.horizon={args.horizon}",
                   f"tokenizer.pretrained={tokenizer_dir}", f"policy.decoding={mode}",
                   f"training.output_dir={out}", f"training.steps={args.steps}", "training.report_to=[]"]  # fmt: skip
            start = time.perf_counter()
            subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
            train_s = time.perf_counter() - start
            metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
            start = time.perf_counter()
            evaluation = evaluate(
                EvalConfig(policy=str(out / "checkpoints" / "last"), suite="libero_object",
                           task_ids=tuple(args.tasks), episodes_per_task=args.episodes,
                           max_steps=args.max_steps, video="none", output_dir=str(out / "eval"))
            )  # fmt: skip
            overall = evaluation["overall"]
            results[mode] = {
                "first_loss": metrics[0]["loss"],
                "final_loss": round(sum(m["loss"] for m in metrics[-10:]) / len(metrics[-10:]), 4),
                "train_s": round(train_s, 1),
                "eval_s": round(time.perf_counter() - start, 1),
                "successes": overall["successes"],
                "episodes": overall["episodes"],
                "success_rate": overall["success_rate"],
                "invalid_chunks": overall["invalid_chunks"],
            }
            print(mode, json.dumps(results[mode]), flush=True)
    write_result(args.out, {"benchmark": "tiny recipe success per decoding mode (CPU)", "dataset": args.dataset,
                            "steps": args.steps, "tokenizer": f"binning, {args.n_bins} bins",
                            "tasks": args.tasks, "episodes_per_task": args.episodes, "max_steps": args.max_steps,
                            "results": results})  # fmt: skip


if __name__ == "__main__":
    main()
