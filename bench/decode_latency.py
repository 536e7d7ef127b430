"""Latency per action chunk of the three decoding modes (autoregressive, parallel, blockwise).

    OMP_NUM_THREADS=1 .venv/bin/python bench/decode_latency.py --out outputs/bench/decode_latency.json
    python bench/decode_latency.py --preset smolvlm2-2.2b --device cuda --dtype bfloat16

``--preset tiny`` (default, CPU): a real VLAPolicy on the embedded tiny SmolVLM with a binning tokenizer of
16 tokens per chunk (horizon 4 x 4 action dims, 256 bins), timed twice: ``policy`` is
``predict_action_chunk`` end to end (processor, forward passes, detokenization), ``decode`` is the forward
passes alone on a prepared batch. Other presets, or ``--random-weights``: the architecture with random
weights (no download, see bench/gpu_train.py), its vocabulary extended with 2048 action rows and the slot
rows, a synthetic prompt shaped like ours (two images, 40 text tokens); ``decode`` only, since the
processor needs the real tokenizer files. Every mode uses ``--attn`` (SDPA by default, as recorded in the
README; flash attention cannot take the 4D masks of parallel and blockwise; without CUDA ``auto`` picks
eager) and the same prompt; the batch repeats it. Latency is the median over ``--repeats``
calls after ``--warmup`` calls; chunks/s = batch size / latency.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

from vla.testing import write_result

MODES = ("autoregressive", "parallel", "blockwise")
TOKENS = 16  # the paper's ActionCodec tokens per chunk
INSTRUCTION = "pick up the alphabet soup and place it in the basket"


def tiny_policies(block_size: int, attn: str = "sdpa") -> dict:
    """One tiny VLAPolicy per mode; the same seed gives them the same base and action rows."""
    import numpy as np

    from vla.model.policy import PolicyConfig, VLAPolicy
    from vla.tokenizers import BinningActionTokenizer
    from vla.tokenizers.normalize import NormStats

    chunks = np.random.default_rng(0).uniform(-1, 1, (64, 4, 4))
    tokenizer = BinningActionTokenizer(horizon=4, action_dim=4, n_bins=256).fit(chunks)
    assert tokenizer.tokens_per_chunk == TOKENS
    config = dict(horizon=4, attn_implementation=attn, decoding_block_size=block_size)
    return {
        mode: VLAPolicy.from_base(PolicyConfig(decoding=mode, **config), tokenizer, NormStats({}))
        for mode in MODES
    }


def observation():
    import numpy as np

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)
    return {"image": image, "wrist_image": image[::-1].copy(), "state": np.zeros(8), "task": INSTRUCTION}


def random_weight_model(preset: str, device, dtype, block_size: int, attn: str = "sdpa"):
    """The preset's architecture with random weights and the action and slot rows; its decode spec."""
    from bench.gpu_train import ACTION_VOCAB, build_model
    from vla.model.decoding import n_slot_tokens

    model, config = build_model(preset, attn, dtype, device)
    text_vocab = config.text_config.vocab_size - ACTION_VOCAB
    slots = max(n_slot_tokens(mode, TOKENS, block_size) for mode in MODES)
    model.resize_token_embeddings(text_vocab + ACTION_VOCAB + slots, mean_resizing=False)
    model.eval()

    def spec(mode: str):
        from vla.model.decoding import DecodeSpec

        return DecodeSpec(mode, TOKENS, text_vocab, ACTION_VOCAB, text_vocab + ACTION_VOCAB, block_size,
                          pad_id=config.pad_token_id)  # fmt: skip

    return model, config, spec


def synthetic_prompt(config, batch_size: int, device, dtype) -> dict:
    """Two images and 40 text tokens, the same prompt in every row (shaped like bench/gpu_train.py's)."""
    import torch

    from bench.gpu_train import ACTION_VOCAB, N_IMAGES, TEXT_TOKENS

    vision = config.vision_config
    image_tokens = (vision.image_size // vision.patch_size) ** 2 // config.scale_factor**2
    g = torch.Generator().manual_seed(0)
    text = torch.randint(10, config.text_config.vocab_size - ACTION_VOCAB - 1, (1, TEXT_TOKENS), generator=g)
    text[text == config.image_token_id] = 10
    ids = torch.cat([torch.full((1, N_IMAGES * image_tokens), config.image_token_id), text], dim=1)
    pixels = torch.randn(1, N_IMAGES, 3, vision.image_size, vision.image_size, generator=g)
    return {
        "input_ids": ids.repeat(batch_size, 1).to(device),
        "attention_mask": torch.ones(batch_size, ids.shape[1], dtype=torch.long, device=device),
        "pixel_values": pixels.repeat(batch_size, 1, 1, 1, 1).to(device, dtype),
    }


def timed(fn, warmup: int, repeats: int, sync) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def row(mode: str, what: str, batch: int, seconds: float, block_size: int) -> dict:
    passes = {"autoregressive": TOKENS, "parallel": 1, "blockwise": -(-TOKENS // block_size)}[mode]
    return {"mode": mode, "measured": what, "batch_size": batch, "forward_passes": passes,
            "latency_ms": round(1000 * seconds, 2), "chunks_per_s": round(batch / seconds, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="tiny", help="tiny or smolvlm2-2.2b")
    parser.add_argument("--random-weights", action="store_true", help="implied by presets other than tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--block-size", type=int, default=4, help="tokens per block (blockwise)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--attn", default="sdpa", choices=("sdpa", "eager"),
                        help="attention of every mode (flash attention cannot take the 4D masks)")  # fmt: skip
    parser.add_argument("--out", default="outputs/bench/decode_latency.json")
    args = parser.parse_args(argv)

    import torch

    from vla.model.decoding import decode_action_ids

    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    results = []
    with torch.inference_mode():
        if args.preset == "tiny" and not args.random_weights:
            policies = tiny_policies(args.block_size, args.attn)
            for mode, policy in policies.items():
                policy.model.to(device, dtype)
                for batch_size in batch_sizes:
                    obs = [observation()] * batch_size
                    seconds = timed(
                        partial(policy.predict_action_chunk, obs), args.warmup, args.repeats, sync
                    )
                    results.append(row(mode, "policy", batch_size, seconds, args.block_size))
                    batch = policy.collate(obs, with_targets=False, padding_side="left")
                    batch = {k: v.to(device) for k, v in batch.items()}
                    batch["pixel_values"] = batch["pixel_values"].to(dtype)
                    run = partial(decode_action_ids, policy.model, batch, policy.decode_spec)
                    seconds = timed(run, args.warmup, args.repeats, sync)
                    results.append(row(mode, "decode", batch_size, seconds, args.block_size))
        else:
            model, config, spec = random_weight_model(args.preset, device, dtype, args.block_size, args.attn)
            for mode in MODES:
                for batch_size in batch_sizes:
                    batch = synthetic_prompt(config, batch_size, device, dtype)
                    run = partial(decode_action_ids, model, batch, spec(mode))
                    seconds = timed(run, args.warmup, args.repeats, sync)
                    results.append(row(mode, "decode", batch_size, seconds, args.block_size))
    speedups = {}
    for r in results:
        base = next(b for b in results if b["mode"] == "autoregressive" and b["measured"] == r["measured"]
                    and b["batch_size"] == r["batch_size"])  # fmt: skip
        if r["mode"] != "autoregressive":
            key = f"{r['mode']}_vs_autoregressive_{r['measured']}_batch{r['batch_size']}"
            speedups[key] = round(base["latency_ms"] / r["latency_ms"], 2)
    write_result(args.out, {
        "benchmark": f"latency per action chunk by decoding mode, {args.preset} "
                     f"({'random weights' if args.random_weights or args.preset != 'tiny' else 'tiny policy'}), "
                     f"{TOKENS} tokens per chunk",
        "settings": vars(args), "results": results, "speedup_vs_autoregressive": speedups,
    })  # fmt: skip


if __name__ == "__main__":
    main()
