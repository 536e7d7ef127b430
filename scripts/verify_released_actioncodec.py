"""vla's reader of the ActionCodec authors' checkpoints, checked against the authors' own modeling code.

    git clone https://github.com/ZibinDong/actioncodec /tmp/actioncodec     # their code, outside this repo
    OMP_NUM_THREADS=1 .venv/bin/python scripts/verify_released_actioncodec.py --theirs /tmp/actioncodec [--n 10000]

``--theirs`` is a folder holding their ``actioncodec`` package (configuration_actioncodec, modeling_actioncodec,
modular_actioncodec, rvq); it is imported from there, never copied into vla. The script builds their
ActionCodec at their default sizes (``--base``: the released Base width) with random weights and non-trivial
codebooks, for a plain VQ and a 4-level RVQ model next to another embodiment, saves each with their
``save_pretrained`` (config.json + model.safetensors, as on the Hub), loads the folder with
``vla.tokenizers.AutoActionTokenizer.from_pretrained`` and compares, on ``--n`` random LIBERO-range chunks of
1 s, the token ids (encoding on both sides) and the decoded chunks of the same ids. One JSON line per case.
Needs transformers, vector_quantize_pytorch and einops (all in vla's environment).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from vla.tokenizers import AutoActionTokenizer
from vla.tokenizers.actioncodec.released import LIBERO_ACTION_SCALE

ActionCodecConfig = ActionCodec = None  # theirs, imported from --theirs in main()
LIBERO = "a_franka_libero_20hz"
# their LIBERO statistics (scripts/utils.py ACTION_Q01 / ACTION_Q99)
Q01 = np.array([-0.8785714507103, -0.875892877579, -0.9375, -0.15107143, -0.20678571, -0.27964285, -1.0])
Q99 = np.array([0.9375, 0.9107142686843872, 0.9375, 0.20357142388820648, 0.26357144117355347, 0.375, 1.0])

DESC = "test embodiment"
CASES = {
    # LIBERO first, plus a wider / faster embodiment: exercises the action-dim cut (their inputs are padded to 10)
    "vq": dict(
        embodiment_config={
            LIBERO: {"action_dim": 7, "freq": 20, "duration": 1, "description": DESC},
            "big_robot_30hz": {"action_dim": 10, "freq": 30, "duration": 1, "description": DESC},
        },
        n_tokens=16,
        n_quantizers=1,
        vq_type="vq",
    ),
    # LIBERO second (also in the sorted config.json): exercises the embodiment row selection and a 14-D cut;
    # 4 RVQ levels x 16 tokens
    "rvq": dict(
        embodiment_config={
            "a_aloha_bimanual_50hz": {"action_dim": 14, "freq": 50, "duration": 1, "description": DESC},
            LIBERO: {"action_dim": 7, "freq": 20, "duration": 1, "description": DESC},
        },
        n_tokens=64,
        n_quantizers=4,
        vq_type="rvq",
    ),
}


def randomize(model, seed: int) -> None:
    """All parameters and Fourier frequencies random, of a scale that keeps activations O(1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("scale.scale"):  # LayerScale
                p.copy_(torch.rand(p.shape, generator=g) * 1.0 + 0.25)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "cls_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            elif p.ndim == 2:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
            else:
                raise RuntimeError(f"unhandled parameter {name}")
        for name, b in model.named_buffers():
            if name.endswith("freqs"):
                b.copy_(torch.randn(b.shape, generator=g) * 2.0)


def padded_input(normalized: np.ndarray, max_dim: int) -> torch.Tensor:
    x = np.zeros(normalized.shape[:2] + (max_dim,), dtype=np.float32)
    x[..., : normalized.shape[-1]] = normalized
    return torch.from_numpy(x)


def set_codebooks(model, sample: torch.Tensor, emb: int, seed: int) -> None:
    """Codebooks from latents of real inputs (as k-means init would) plus noise, EMA stats non-trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        z = model._encode(sample, torch.full((sample.shape[0],), emb, dtype=torch.long)).reshape(
            -1, model.config.z_dim
        )
        k = model.config.vq_codebook_size

        def book(vectors: torch.Tensor) -> torch.Tensor:
            rows = vectors[torch.randperm(vectors.shape[0], generator=g)[:k]]
            return rows + 0.05 * rows.std() * torch.randn(rows.shape, generator=g)

        def stats(codebook: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            cluster = torch.rand(k, generator=g) * 10 + 0.1
            return cluster, codebook * cluster[:, None]

        if model.config.vq_type == "vq":
            cb = model.vq._codebook
            embed = book(z)
            cluster, avg = stats(embed)
            cb.embed.copy_(embed[None])
            cb.embed_avg.copy_(avg[None])
            cb.cluster_size.copy_(cluster[None])
            cb.initted.fill_(True)
        else:
            residual = z
            for q in model.vq.quantizers:
                embed = book(residual)
                cluster, avg = stats(embed)
                q.codebook.copy_(embed)
                q.embed_avg.copy_(avg)
                q.cluster_size.copy_(cluster)
                q.inited.fill_(True)
                d = residual.pow(2).sum(1, keepdim=True) - 2 * residual @ embed.T + embed.pow(2).sum(1)[None]
                residual = residual - embed[d.argmin(1)]


def libero_chunks(n: int, seed: int) -> np.ndarray:
    """Raw LIBERO-range chunks (n, 20, 7): smooth random walks + uniform noise, ~10% outside [q01, q99]
    (so clipping is exercised), gripper +-1 with a random switch."""
    rng = np.random.default_rng(seed)
    lo, hi = Q01[:6] * 1.1, Q99[:6] * 1.1
    start = rng.uniform(lo, hi, size=(n, 1, 6))
    walk = np.cumsum(rng.normal(0, 0.08, size=(n, 20, 6)), axis=1) * (hi - lo)
    noise = rng.uniform(-0.05, 0.05, size=(n, 20, 6)) * (hi - lo)
    arm = start + walk + noise
    switch = rng.integers(0, 30, size=(n, 1))
    sign = rng.choice([-1.0, 1.0], size=(n, 1))
    grip = np.where(np.arange(20)[None] < switch, sign, -sign)
    return np.concatenate([arm, grip[..., None]], axis=-1)


def run_case(name: str, kw: dict, n: int, width: dict, batch: int, work: Path) -> dict:
    folder = work / f"ckpt_{name}"
    shutil.rmtree(folder, ignore_errors=True)
    torch.manual_seed(0)
    config = ActionCodecConfig(**kw, **width)
    theirs = ActionCodec(config).eval()
    randomize(theirs, seed=1)
    emb = list(config.embodiment_config).index(LIBERO)
    max_dim = theirs.encoder.max_action_dim
    scale = np.asarray(LIBERO_ACTION_SCALE)
    warm = libero_chunks(4096, seed=2)
    set_codebooks(theirs, padded_input(np.clip(warm / scale, -1, 1), max_dim), emb, seed=3)
    theirs.save_pretrained(folder)
    saved = json.loads((folder / "config.json").read_text())
    # The reference is their model as their own code loads the folder: transformers writes config.json with
    # sorted keys, so embodiment ids follow the sorted names there (as for the Hub checkpoints), not the
    # insertion order of the dict the in-memory model was built from.
    built_order = list(config.embodiment_config)
    # (their class predates transformers 5: ActionCodec.from_pretrained fails there for want of post_init(),
    # so do what it does: their config class from config.json, then the safetensors weights, strictly)
    theirs = ActionCodec(ActionCodecConfig.from_pretrained(folder))
    theirs.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
    theirs.eval()
    config = theirs.config
    emb = list(config.embodiment_config).index(LIBERO)
    weights = load_file(str(folder / "model.safetensors"))
    keys = sorted(weights)
    state = theirs.state_dict()
    reload_exact = sorted(state) == keys and all(torch.equal(state[k], weights[k]) for k in keys)
    ours = AutoActionTokenizer.from_pretrained(folder)
    assert type(ours).__name__ == "ActionCodecTokenizer", type(ours)

    raw = libero_chunks(n, seed=4)
    normalized = np.clip(raw / scale, -1.0, 1.0)  # their LIBERO pipeline: x / max|q|, gripper negated, clip
    frac_clipped = float((np.abs(raw / scale) > 1).mean())
    # the same float32 network input on both sides
    ours_in = ours._normalized(raw).numpy()
    input_diff = float(np.abs(ours_in - normalized.astype(np.float32)).max())

    ids_t, ids_o, dec_t, dec_o, lat_diff = [], [], [], [], 0.0
    for s in range(0, n, batch):
        x = padded_input(normalized[s : s + batch], max_dim)
        ids_t.append(np.asarray(theirs.encode(x, embodiment_ids=emb), dtype=np.int64))
        ids_o.append(ours.encode(raw[s : s + batch]))
        with torch.no_grad():
            z_t = theirs._encode(x, torch.full((x.shape[0],), emb, dtype=torch.long)).numpy()
        lat_diff = max(lat_diff, float(np.abs(z_t - ours.latents(raw[s : s + batch])).max()))
        # decode the same ids (theirs) on both sides
        a_t, _ = theirs.decode(ids_t[-1], embodiment_ids=emb)
        dec_t.append(a_t[..., :7])
        dec_o.append(ours.decode(ids_t[-1], strict=True).actions / scale)  # back to normalized space
    ids_t, ids_o = np.concatenate(ids_t), np.concatenate(ids_o)
    dec_t, dec_o = np.concatenate(dec_t), np.concatenate(dec_o)
    mism = ids_t != ids_o
    per_level = mism.reshape(n, config.n_quantizers, -1).sum(axis=(0, 2)).tolist()
    return {
        "case": name,
        "config": {
            k: saved[k]
            for k in (
                "n_tokens",
                "n_quantizers",
                "vq_type",
                "vq_codebook_size",
                "z_dim",
                "encoder_dim",
                "encoder_n_layers",
                "encoder_n_heads",
                "decoder_dim",
                "decoder_n_layers",
                "decoder_n_heads",
            )
        },
        "embodiments_built": built_order,
        "embodiments_in_config_json": list(config.embodiment_config),
        "libero_id": emb,
        "max_action_dim": max_dim,
        "n_weight_keys": len(keys),
        "their_reload_equals_file": reload_exact,
        "chunks": n,
        "tokens_per_chunk": int(ids_t.shape[1]),
        "frac_values_clipped": round(frac_clipped, 4),
        "distinct_ids_used": int(np.unique(ids_t).size),
        "input_max_abs_diff": input_diff,
        "latent_max_abs_diff": lat_diff,
        "mismatching_ids": int(mism.sum()),
        "mismatching_ids_per_level": per_level,
        "mismatching_rows": int(mism.any(1).sum()),
        "decode_max_abs_diff_normalized": float(np.abs(dec_t - dec_o).max()),
        "decode_max_abs_diff_raw": float(np.abs(dec_t * scale - dec_o * scale).max()),
        "decoded_abs_max": float(np.abs(dec_t).max()),
    }


def main() -> None:
    global ActionCodecConfig, ActionCodec
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--theirs", type=Path, required=True, help="folder holding their actioncodec package")
    parser.add_argument("--work", type=Path, default=Path("outputs/verify_released_actioncodec"))
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--cases", default="vq,rvq")
    parser.add_argument(
        "--base",
        action="store_true",
        help="the released Base width (384 / 12 layers) instead of the config defaults (256 / 6 / 8 heads)",
    )
    args = parser.parse_args()
    if not (args.theirs / "actioncodec" / "modeling_actioncodec.py").is_file():
        raise SystemExit(f"error: --theirs {args.theirs} holds no actioncodec/modeling_actioncodec.py")
    sys.path.insert(0, str(args.theirs.resolve()))
    from actioncodec.configuration_actioncodec import ActionCodecConfig
    from actioncodec.modeling_actioncodec import ActionCodec

    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    width = (
        dict(encoder_dim=384, encoder_n_layers=12, decoder_dim=384, decoder_n_layers=12) if args.base else {}
    )
    for name in args.cases.split(","):
        print(json.dumps(run_case(name, CASES[name], args.n, width, args.batch, args.work)), flush=True)


if __name__ == "__main__":
    main()
