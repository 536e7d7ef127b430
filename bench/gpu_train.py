"""Training speed of the full SmolVLM2-2.2B architecture (random weights, no download) on a GPU.

    python bench/gpu_train.py --preset smolvlm2-2.2b --batch-size 8 --attn sdpa,flash_attention_2 \\
        --modes full,lora --out outputs/bench/gpu_train.json

For each (attention, fine-tuning mode): tokens/s, peak GPU memory and model FLOPs utilization (MFU) of a
real training step (forward, backward, AdamW) on sequences shaped like ours: two camera images, the
instruction, and the action tokens. MFU counts 6 FLOPs per parameter per token (text model on every
token, vision encoder on every patch), the convention of the PaLM paper, for LoRA too, against
``--peak-tflops`` (989 = H100 SXM dense bf16). ``--preset tiny --device cpu`` runs the same code path on a
CPU (the tests do).

``--pipeline``: training samples/s with the image processor in the loop, before and after the processor fix
(bench/processor_speed.py): a DataLoader with ``--loader-workers`` worker processes turns raw samples (two
256 px uint8 camera images each, the public LIBERO datasets' size) into ``pixel_values`` with the preset's
processor (``after``) or one told only ``do_image_splitting=False`` (``before``: each image upscaled to
1536 px first), while the GPU runs full fine-tuning steps on them.
"""

from __future__ import annotations

import argparse
import time

from vla.testing import write_result

N_IMAGES = 2
TEXT_TOKENS = 40  # chat scaffolding + instruction + state
ACTION_TOKENS = 16  # the paper's ActionCodec tokens per chunk
ACTION_VOCAB = 2048


def build_model(preset: str, attn: str, dtype, device):
    import torch
    from transformers import SmolVLMForConditionalGeneration

    from vla.model.backbones.smolvlm import PRESETS, build_tiny_config

    if preset == "tiny":
        config = build_tiny_config(vocab_size=512, image_token_id=4, pad_token_id=2, eos_token_id=7)
    else:
        config = PRESETS[preset].build_config()
    config._attn_implementation = attn
    config.text_config._attn_implementation = attn
    config.vision_config._attn_implementation = attn
    torch.manual_seed(0)
    with torch.device(device):
        model = SmolVLMForConditionalGeneration(config).to(dtype)
    model.resize_token_embeddings(config.text_config.vocab_size + ACTION_VOCAB, mean_resizing=False)
    return model, config


def make_batch(config, batch_size: int, device, dtype):
    import torch

    vision = config.vision_config
    image_tokens = (vision.image_size // vision.patch_size) ** 2 // config.scale_factor**2
    vocab = config.text_config.vocab_size
    g = torch.Generator().manual_seed(0)
    text = torch.randint(10, vocab - ACTION_VOCAB - 1, (batch_size, TEXT_TOKENS), generator=g)
    text[text == config.image_token_id] = 10
    images = torch.full((batch_size, N_IMAGES * image_tokens), config.image_token_id)
    actions = torch.randint(vocab - ACTION_VOCAB, vocab, (batch_size, ACTION_TOKENS), generator=g)
    input_ids = torch.cat([images, text, actions], dim=1)
    labels = torch.full_like(input_ids, -100)
    labels[:, -ACTION_TOKENS:] = actions
    pixels = torch.randn(batch_size, N_IMAGES, 3, vision.image_size, vision.image_size, generator=g)
    return {
        "input_ids": input_ids.to(device),
        "attention_mask": torch.ones_like(input_ids).to(device),
        "pixel_values": pixels.to(device, dtype),
        "labels": labels.to(device),
    }, image_tokens


def run_case(args, attn: str, mode: str) -> dict:
    import torch

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    model, config = build_model(args.preset, attn, dtype, device)
    n_text = sum(p.numel() for n, p in model.named_parameters() if "vision_model" not in n)
    n_vision = sum(p.numel() for n, p in model.named_parameters() if "vision_model" in n)
    if mode == "lora":
        from peft import LoraConfig, get_peft_model

        vocab = config.text_config.vocab_size
        ids = list(range(vocab - ACTION_VOCAB, vocab))
        model = get_peft_model(model, LoraConfig(
            r=32, lora_alpha=64, target_modules=r".*text_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$",
            trainable_token_indices={"embed_tokens": ids, "lm_head": ids}))  # fmt: skip
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if mode == "lora":
            model.enable_input_require_grads()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    batch, image_tokens = make_batch(config, args.batch_size, device, dtype)
    seq_len = batch["input_ids"].shape[1]
    patches = N_IMAGES * (config.vision_config.image_size // config.vision_config.patch_size) ** 2

    def step():
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        step()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    sync()
    seconds = time.perf_counter() - start
    tokens = args.batch_size * seq_len * args.steps
    flops = 6 * (n_text * args.batch_size * seq_len + n_vision * args.batch_size * patches) * args.steps
    result = {
        "attn": attn,
        "mode": mode,
        "batch_size": args.batch_size,
        "seq_len": seq_len,
        "image_tokens_per_image": image_tokens,
        "params_total": n_text + n_vision,
        "params_trainable": sum(p.numel() for p in params),
        "tokens_per_s": round(tokens / seconds, 1),
        "step_s": round(seconds / args.steps, 4),
        "achieved_tflops": round(flops / seconds / 1e12, 2),
        "mfu": float(f"{flops / seconds / (args.peak_tflops * 1e12):.4g}"),
        "final_loss": loss.item(),
    }
    if device.type == "cuda":
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return result


class _RawImages:
    """Samples of two random 256 px uint8 images (a map-style dataset for the DataLoader)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        import numpy as np

        rng = np.random.default_rng(index)
        return [rng.integers(0, 255, (256, 256, 3), dtype=np.uint8) for _ in range(N_IMAGES)]


class _ProcessImages:
    """collate_fn: a batch of raw samples -> pixel_values, through a SmolVLM image processor."""

    def __init__(self, processor) -> None:
        self.processor = processor

    def __call__(self, samples):
        return self.processor(images=samples, return_tensors="pt")["pixel_values"]


def run_pipeline(args) -> list[dict]:
    """Samples/s of full fine-tuning with the processor before/after the fix, for each worker count."""
    import torch
    from torch.utils.data import DataLoader

    from bench.processor_speed import image_processor

    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    model, config = build_model(args.preset, "sdpa", dtype, device)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    batch, _ = make_batch(config, args.batch_size, device, dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows = []
    for mode in ("before", "after"):
        processor = image_processor(args.preset, fixed=mode == "after")
        if processor is None:
            continue
        for workers in (int(w) for w in args.loader_workers.split(",")):
            n_steps = args.warmup + args.steps
            loader = DataLoader(_RawImages(n_steps * args.batch_size), batch_size=args.batch_size,
                                num_workers=workers, collate_fn=_ProcessImages(processor))  # fmt: skip
            start = None
            for i, pixels in enumerate(loader):
                if i == args.warmup:
                    sync()
                    start = time.perf_counter()
                batch["pixel_values"] = pixels.to(device, dtype, non_blocking=True)
                model(**batch).loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            sync()
            seconds = time.perf_counter() - start
            rows.append({"processor": mode, "loader_workers": workers, "batch_size": args.batch_size,
                         "samples_per_s": round(args.steps * args.batch_size / seconds, 2),
                         "step_s": round(seconds / args.steps, 4)})  # fmt: skip
            print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="smolvlm2-2.2b", help="smolvlm2-2.2b or tiny")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--attn", default="sdpa,flash_attention_2")
    parser.add_argument("--modes", default="full,lora")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument(
        "--pipeline", action="store_true", help="samples/s with the image processor in the loop"
    )
    parser.add_argument("--loader-workers", default="1,4", help="with --pipeline: DataLoader worker counts")
    parser.add_argument("--out", default="outputs/bench/gpu_train.json")
    args = parser.parse_args(argv)
    if args.pipeline:
        rows = run_pipeline(args)
        write_result(args.out, {"benchmark": f"training samples/s with the image processor in the loop, "
                                f"{args.preset} architecture, random weights, full fine-tuning, SDPA",
                                "settings": vars(args), "results": rows})  # fmt: skip
        return

    import importlib.util

    cases, skipped = [], []
    for attn in args.attn.split(","):
        if attn == "flash_attention_2" and (
            args.device != "cuda" or importlib.util.find_spec("flash_attn") is None
        ):
            skipped.append({"attn": attn, "reason": "flash-attn not installed or no CUDA"})
            continue
        for mode in args.modes.split(","):
            cases.append(run_case(args, attn, mode))
            if args.device == "cuda":
                import torch

                torch.cuda.empty_cache()
    write_result(args.out, {"benchmark": f"training step, {args.preset} architecture, random weights",
                            "settings": vars(args), "results": cases, "skipped": skipped})  # fmt: skip


if __name__ == "__main__":
    main()
