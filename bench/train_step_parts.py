"""The parts of a training step around the model, each the way vla did it before and the way it does now,
on the stage-1 experiments' policy (`small`, both cameras, state in the prompt, FAST tokens on 1 s chunks).

    OMP_NUM_THREADS=1 .venv/bin/python bench/train_step_parts.py --out outputs/bench/train_step_parts.json

- prompt encoding (the collate's processor work): one processor call per sample (before) against one per
  batch (now, ``VLAPolicy._encode_prompts``); the same ids and image tensors both ways, checked here.
- optimizer step: ``torch.optim.AdamW`` with torch's default implementation on CPU (before) against the
  trainer's ``adamw`` (torch's fused kernel); the same updated weights up to float rounding, checked here.

The model's own forward and backward (bf16 autocast where the CPU multiplies bf16 natively, as
``training.mixed_precision: auto`` does) is timed beside them, so each part reads as a share of a step.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from vla.testing import write_result


def median_ms(work: Callable[[], object], repeats: int) -> float:
    work()  # first call: allocation, lazy imports
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return round(1000 * statistics.median(seconds), 2)


def encode_per_prompt(policy, samples: list[dict]) -> tuple[list, dict]:
    """What the collate did before: one processor call per sample, the image tensors concatenated."""
    import torch

    from vla.model.policy import _to_uint8_hwc

    ids, parts = [], []
    for sample in samples:
        images = [_to_uint8_hwc(sample[key]) for key in policy.config.image_keys]
        text = policy.prompt_text(sample["task"], sample["state"])
        out = dict(policy.processor(text=[text], images=[images], return_tensors="pt"))
        ids.append(out.pop("input_ids")[0])
        out.pop("attention_mask", None)
        parts.append(out)
    return ids, {key: torch.cat([part[key] for part in parts]) for key in parts[0]}


def main() -> None:
    import torch

    from bench.train_throughput import training_dataset
    from vla.data.dataset import compute_norm_stats, episode_action_chunks, load_chunked_dataset
    from vla.model.policy import PolicyConfig, VLAPolicy
    from vla.tokenizers import FastActionTokenizer
    from vla.train.config import resolve_mixed_precision
    from vla.train.trainer import adamw

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="outputs/bench/train_step_parts.json")
    parser.add_argument("--batch-size", type=int, default=8, help="per process, as in the stage-1 recipe")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--dataset", help="LeRobotDataset folder (default: a synthetic one, public LIBERO schema)"
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = load_chunked_dataset(training_dataset(args.dataset, Path(tmp)), 20)
        tokenizer = FastActionTokenizer(horizon=20, vocab_size=512, max_tokens=128)
        tokenizer.fit(episode_action_chunks(dataset, 20))
        config = PolicyConfig(
            horizon=20, base_model="small", image_keys=("image", "wrist_image"), include_state=True
        )
        precision = resolve_mixed_precision("auto")
        autocast = torch.bfloat16 if precision == "bf16" else None
        policy = VLAPolicy.from_base(config, tokenizer, compute_norm_stats(dataset), autocast_dtype=autocast)
        samples = [dataset[i] for i in range(0, len(dataset), max(1, len(dataset) // args.batch_size))][
            : args.batch_size
        ]

    before_ids, before_images = encode_per_prompt(policy, samples)
    now_ids, now_images = policy._encode_prompts(samples)
    assert all(torch.equal(a, b) for a, b in zip(before_ids, now_ids, strict=True))
    assert before_images.keys() == now_images.keys()
    assert all(torch.equal(before_images[k], now_images[k]) for k in now_images)
    encoding = {
        "before_ms": median_ms(lambda: encode_per_prompt(policy, samples), args.repeats),
        "now_ms": median_ms(lambda: policy._encode_prompts(samples), args.repeats),
    }

    model = policy.model.train()
    batch = policy.collate(samples)

    def forward_backward() -> None:
        with torch.autocast("cpu", dtype=autocast or torch.float32, enabled=autocast is not None):
            loss = model(**batch).loss
        loss.backward()

    model_ms = median_ms(forward_backward, args.repeats // 2)
    params = [p for p in model.parameters() if p.requires_grad]
    start = [p.detach().clone() for p in params]
    updated = {}
    optimizer_ms = {}
    for name, make in (
        ("before", lambda: torch.optim.AdamW(params, lr=1e-3)),
        ("now", lambda: adamw(params, lr=1e-3)),
    ):
        with torch.no_grad():
            for p, p0 in zip(params, start, strict=True):
                p.copy_(p0)
        optimizer = make()
        optimizer.step()  # the gradients of the forward_backward calls above, the same for both
        updated[name] = [p.detach().clone() for p in params]
        optimizer_ms[f"{name}_ms"] = median_ms(optimizer.step, args.repeats)
    worst = max(float((a - b).abs().max()) for a, b in zip(updated["before"], updated["now"], strict=True))
    assert worst < 1e-6, worst
    step_before = model_ms + encoding["before_ms"] + optimizer_ms["before_ms"]
    step_now = model_ms + encoding["now_ms"] + optimizer_ms["now_ms"]
    write_result(args.out, {
        "benchmark": "training step parts around the model, before and now (CPU, 1 process)",
        "policy": "small, 2 cameras, state in the prompt, FAST on 20-action chunks",
        "batch_size": args.batch_size,
        "mixed_precision": precision,
        "dataset": args.dataset or "synthetic (256 px images)",
        "prompt_encoding": {**encoding, "speedup": round(encoding["before_ms"] / encoding["now_ms"], 2)},
        "optimizer_step": {**optimizer_ms, "speedup": round(optimizer_ms["before_ms"] / optimizer_ms["now_ms"], 2),
                           "first_step_max_abs_difference": worst, "parameter_tensors": len(params)},
        "model_forward_backward_ms": model_ms,
        "step_ms": {"before": round(step_before, 1), "now": round(step_now, 1),
                    "speedup": round(step_before / step_now, 2)},
    })  # fmt: skip


if __name__ == "__main__":
    main()
