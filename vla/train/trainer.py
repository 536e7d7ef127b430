"""The training loop: one screen, accelerate for devices and processes, checkpoints that hold everything.

A checkpoint folder ``checkpoints/step-NNNNNN`` holds the policy (weights, processor, action tokenizer,
normalization statistics, policy config), the resolved training config, a model card and the
accelerate training state; it is written under a temporary name and renamed when complete, and
``checkpoints/last`` points at the newest one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

from vla.config import to_dict
from vla.train.config import TrainConfig

TRAINING_STATE_DIR = "training_state"
TRAIN_CONFIG_FILE = "train_config.json"


def build_tokenizer(config: TrainConfig, chunks):
    from vla.tokenizers import AutoActionTokenizer

    if config.tokenizer.pretrained:
        tokenizer = AutoActionTokenizer.from_pretrained(config.tokenizer.pretrained)
        if tokenizer.horizon != config.data.horizon:
            raise ValueError(
                f"data.horizon={config.data.horizon} differs from the pretrained tokenizer's horizon "
                f"{tokenizer.horizon}; set data.horizon={tokenizer.horizon}"
            )
        return tokenizer
    tokenizer = AutoActionTokenizer.from_config(
        config.tokenizer.type,
        horizon=config.data.horizon,
        action_dim=chunks.shape[-1],
        **config.tokenizer.options,
    )
    return tokenizer.fit(chunks)


def write_model_card(folder: Path, config: TrainConfig, step: int, metrics: dict[str, Any]) -> None:
    tokenizer = config.tokenizer.pretrained or config.tokenizer.type
    lines = [
        "---",
        "library_name: vla",
        "tags: [robotics, vision-language-action, libero, lerobot]",
        "---",
        "",
        f"# VLA policy: {config.policy.base_model} + {tokenizer} action tokens",
        "",
        f"Fine-tuned with [vla](https://github.com/) for {step} optimizer steps on `{config.data.dataset}`.",
        "",
        "Load it with `VLAPolicy.from_pretrained(path_or_repo_id)`; evaluate it with",
        "`vla eval --policy <this folder or repo id> --suite libero_object`.",
        "",
        "## Training",
        "```json",
        json.dumps(to_dict(config), indent=1),
        "```",
        "",
        "## Last metrics",
        "```json",
        json.dumps(metrics, indent=1),
        "```",
    ]
    (folder / "README.md").write_text("\n".join(lines) + "\n")


def _save_checkpoint(
    accelerator, policy, model, config: TrainConfig, step: int, metrics: dict[str, Any]
) -> Path:
    ckpt_root = Path(config.training.output_dir) / "checkpoints"
    final = ckpt_root / f"step-{step:06d}"
    tmp = ckpt_root / f".tmp-step-{step:06d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp / TRAINING_STATE_DIR))
    if accelerator.is_main_process:
        policy.model = accelerator.unwrap_model(model)
        policy.save_pretrained(tmp)
        (tmp / TRAIN_CONFIG_FILE).write_text(json.dumps(to_dict(config), indent=1))
        write_model_card(tmp, config, step, metrics)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        link = ckpt_root / "last"
        tmp_link = ckpt_root / ".last.tmp"
        if tmp_link.is_symlink() or tmp_link.exists():
            tmp_link.unlink()
        tmp_link.symlink_to(final.name)
        os.replace(tmp_link, link)
        kept = sorted(p for p in ckpt_root.glob("step-*") if p.is_dir())
        for old in kept[: -config.training.keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def train(config: TrainConfig) -> Path:
    """Run training; returns the last checkpoint folder."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    from vla.data.dataset import compute_norm_stats, episode_action_chunks, load_chunked_dataset
    from vla.model.policy import VLAPolicy

    tc = config.training
    accelerator = Accelerator(gradient_accumulation_steps=tc.grad_accum)
    set_seed(tc.seed)
    dataset = load_chunked_dataset(config.data.dataset, config.data.horizon)
    # Every process fits the same deterministic tokenizer on the same data: no broadcast needed.
    tokenizer = build_tokenizer(config, episode_action_chunks(dataset, config.data.horizon))
    policy = VLAPolicy.from_base(config.policy, tokenizer, compute_norm_stats(dataset))
    policy.model.train()
    loader = DataLoader(
        dataset,
        batch_size=tc.batch_size,
        shuffle=True,
        drop_last=len(dataset) >= tc.batch_size * accelerator.num_processes,
        collate_fn=policy.collate,
        num_workers=tc.num_workers,
        generator=torch.Generator().manual_seed(tc.seed),
    )
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, tc.warmup_steps, tc.steps)
    model, optimizer, loader, scheduler = accelerator.prepare(policy.model, optimizer, loader, scheduler)

    out = Path(tc.output_dir)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / TRAIN_CONFIG_FILE).write_text(json.dumps(to_dict(config), indent=1))
    log_file = out / "metrics.jsonl"
    samples_per_step = tc.batch_size * tc.grad_accum * accelerator.num_processes
    bar = tqdm(total=tc.steps, desc="training", unit="step", disable=not accelerator.is_main_process)
    step, metrics, last = 0, {}, None
    start = time.perf_counter()
    epochs = math.ceil(tc.steps * tc.grad_accum / max(len(loader), 1)) + 1
    for _ in range(epochs):
        for batch in loader:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), tc.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            if not accelerator.sync_gradients:
                continue
            step += 1
            mean_loss = accelerator.reduce(loss.detach(), reduction="mean").item()
            elapsed = time.perf_counter() - start
            metrics = {
                "step": step,
                "loss": round(mean_loss, 6),
                "lr": scheduler.get_last_lr()[0],
                "samples_per_s": round(step * samples_per_step / elapsed, 3),
            }
            if accelerator.is_main_process:
                with log_file.open("a") as f:
                    f.write(json.dumps(metrics) + "\n")
                bar.set_postfix(
                    loss=f"{mean_loss:.4f}", lr=f"{metrics['lr']:.2e}", sps=metrics["samples_per_s"]
                )
                bar.update(1)
            if tc.save_every and step % tc.save_every == 0 and step < tc.steps:
                last = _save_checkpoint(accelerator, policy, model, config, step, metrics)
            if step >= tc.steps:
                break
        if step >= tc.steps:
            break
    bar.close()
    last = _save_checkpoint(accelerator, policy, model, config, step, metrics)
    if accelerator.is_main_process:
        print(f"checkpoint: {last}")
    accelerator.end_training()
    return last
