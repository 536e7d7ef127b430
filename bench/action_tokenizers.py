"""Action tokenizers side by side on the same LIBERO chunks: length, fidelity, speed, downstream loss.

    OMP_NUM_THREADS=1 .venv/bin/python bench/action_tokenizers.py --dataset outputs/data/object5x3 \\
        --out outputs/bench/action_tokenizers.json

(Not ``bench/tokenizers.py``: a script's folder comes first on sys.path, where that name would shadow
Hugging Face ``tokenizers``, which transformers imports.)

For binning, FAST and ActionCodec fitted on the dataset's chunks (``--horizon``):
- tokens per chunk (mean, max) and reconstruction MSE / max error in physical units (in-sample);
- tokenizer encode + decode chunks/s, batched (``--batch`` chunks per call), CPU;
- policy speed: action chunks/s of the tiny SmolVLM's constrained greedy decoding, batch ``--policy-batch``,
  same prompt, generating as many tokens as the tokenizer needs per chunk (its fixed count; FAST's mean
  count on this data plus the end token), since an untrained model would not stop where FAST does;
- downstream (``--train-steps`` > 0): the tiny recipe trained with each tokenizer on the same data and
  steps in one process; the action-token loss curve (not comparable across vocabularies in absolute
  terms: a chunk's loss is spread over a different number of tokens) and the final per-chunk loss.
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

DEFAULT_OPTIONS = {
    "binning": {"n_bins": 256},
    "fast": {},
    # CPU-sized: the paper's 16 tokens x 2048 codes at width 128 takes ~40 min here (1.7 s/step, loaded
    # 2-core machine); see bench/actioncodec_ablation.py for the token-count and codebook sweep.
    "actioncodec": {"num_tokens": 8, "codebook_size": 512, "dim": 64, "steps": 800, "batch_size": 256},
}


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def policy_chunks_per_s(policy, observation: dict, n_tokens: int, batch: int, repeats: int) -> float:
    import torch
    from transformers import LogitsProcessorList

    from vla.model.policy import ActionTokenMask

    inputs = policy.collate([observation] * batch, with_targets=False, padding_side="left")
    mask = ActionTokenMask(policy.action_token_offset, policy.action_tokenizer.vocab_size)

    def generate():
        with torch.inference_mode():
            policy.model.generate(**inputs, max_new_tokens=n_tokens, min_new_tokens=n_tokens, do_sample=False,
                                  logits_processor=LogitsProcessorList([mask]),
                                  pad_token_id=policy.processor.tokenizer.pad_token_id)  # fmt: skip

    policy.model.eval()
    return batch / timed(generate, repeats)


def train_curve(dataset: Path, tokenizer_dir: Path, out: Path, steps: int) -> list[dict]:
    cmd = [sys.executable, "-m", "vla.train", str(ROOT / "recipes/tiny_cpu.yaml"), f"data.dataset={dataset}",
           f"tokenizer.pretrained={tokenizer_dir}", f"training.output_dir={out}", f"training.steps={steps}",
           "training.report_to=[]", "training.save_every=0"]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dataset", required=True, help="LeRobotDataset folder (e.g. from vla data generate)"
    )
    parser.add_argument("--out", default="outputs/bench/action_tokenizers.json")
    parser.add_argument("--horizon", type=int, default=8)
    parser.add_argument("--tokenizers", nargs="+", default=["binning", "fast", "actioncodec"])
    parser.add_argument("--options", default="{}", help="JSON {type: {field: value}} over the defaults")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--policy-batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=0)
    args = parser.parse_args()

    import numpy as np

    from vla.data.dataset import compute_norm_stats, episode_action_chunks, load_chunked_dataset
    from vla.model.policy import PolicyConfig, VLAPolicy
    from vla.tokenizers.diagnostics import reconstruction_error, token_counts
    from vla.train.tokenizer import fit_action_tokenizer

    overrides = json.loads(args.options)
    dataset = load_chunked_dataset(args.dataset, args.horizon)
    chunks = episode_action_chunks(dataset, args.horizon)
    batch = chunks[: args.batch]
    sample = dataset[0]
    observation = {"image": sample["image"], "wrist_image": sample["wrist_image"], "task": sample["task"],
                   "state": sample["state"]}  # fmt: skip
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.tokenizers:
            options = {**DEFAULT_OPTIONS.get(kind, {}), **overrides.get(kind, {})}
            start = time.perf_counter()
            tokenizer = fit_action_tokenizer(kind, dataset, args.horizon, options)
            fit_s = time.perf_counter() - start
            ids = tokenizer.encode(chunks)
            counts = token_counts(ids)
            error = reconstruction_error(tokenizer, chunks)
            seconds = timed(lambda tok=tokenizer: tok.decode(tok.encode(batch)), args.repeats)
            n_tokens = tokenizer.tokens_per_chunk
            if tokenizer.variable_length:
                n_tokens = int(np.ceil(counts["mean"])) + 1  # + the end token
            policy = VLAPolicy.from_base(
                PolicyConfig(horizon=args.horizon), tokenizer, compute_norm_stats(dataset)
            )
            row = {
                "options": options,
                "fit_s": round(fit_s, 1),
                "tokens_per_chunk_mean": round(counts["mean"], 2),
                "tokens_per_chunk_max": counts["max"],
                "vocab_size": tokenizer.vocab_size,
                "mse": error["mse"],
                "max_abs_error": max(error["max_abs_per_dim"]),
                "encode_decode_chunks_per_s": round(len(batch) / seconds, 1),
                "encode_decode_ms_per_chunk": round(1000 * seconds / len(batch), 4),
                "generated_tokens_per_chunk": n_tokens,
                "policy_chunks_per_s": round(
                    policy_chunks_per_s(policy, observation, n_tokens, args.policy_batch, args.repeats), 2
                ),
            }
            if args.train_steps:
                folder = Path(tmp) / kind
                tokenizer.save_pretrained(folder)
                curve = train_curve(Path(args.dataset), folder, Path(tmp) / f"train-{kind}", args.train_steps)
                row["loss_curve"] = [(m["step"], m["loss"]) for m in curve]
                row["final_loss_per_chunk"] = round(
                    np.mean([m["loss"] for m in curve[-5:]]) * (counts["mean"] + 1), 3
                )
            results[kind] = row
            print(kind, json.dumps({k: v for k, v in row.items() if k != "loss_curve"}), flush=True)
    summary = {}
    if "fast" in results and "actioncodec" in results:
        fast, codec = results["fast"], results["actioncodec"]
        summary = {
            "actioncodec_tokens_vs_fast": round(
                codec["tokens_per_chunk_mean"] / fast["tokens_per_chunk_mean"], 3
            ),
            "actioncodec_mse_vs_fast": round(codec["mse"] / fast["mse"], 3),
            "actioncodec_policy_speed_vs_fast": round(
                codec["policy_chunks_per_s"] / fast["policy_chunks_per_s"], 2
            ),
        }
    write_result(args.out, {"benchmark": "action tokenizers on LIBERO chunks (CPU)", "dataset": args.dataset,
                            "chunks": int(len(chunks)), "horizon": args.horizon, "results": results,
                            "summary": summary})  # fmt: skip


if __name__ == "__main__":
    main()
