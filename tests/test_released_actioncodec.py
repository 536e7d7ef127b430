"""The authors' ActionCodec checkpoints (their config.json + model.safetensors) load onto vla's ActionCodec.

The checkpoint is built here in their layout (their key names and shapes, random weights, tiny sizes), and
vla's tokens and decoded chunks are checked against a plain re-implementation of their forward pass written
from their modeling code's description (matrix products on their tensors, by their key names)."""

import json
import math

import numpy as np
import pytest
import torch

from vla.tokenizers import ActionCodecTokenizer, AutoActionTokenizer
from vla.tokenizers.actioncodec.released import LIBERO_ACTION_SCALE, ReleasedCheckpointError

EMBODIMENTS = {
    "widowx_bridge_5hz": {"action_dim": 8, "freq": 5, "duration": 1, "description": "wider robot"},
    "a_franka_libero_20hz": {"action_dim": 7, "freq": 20, "duration": 1, "description": "LIBERO"},
}
SIZES = dict(dim=32, layers=2, heads=4, z_dim=16, codebook=32, per_level=4)


def released_checkpoint(folder, vq_type="rvq", levels=3, seed=0):
    """A folder in the authors' layout with random weights (max action dim 8 over the embodiments)."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    d, z, k, n = SIZES["dim"], SIZES["z_dim"], SIZES["codebook"], SIZES["per_level"]

    def rand(*shape, scale=0.3):
        return torch.randn(*shape, generator=g) * scale

    w = {
        "encoder.input_proj.weight": rand(d, 8),
        "encoder.input_proj.bias": rand(d),
        "encoder.cls_tokens.embedding.weight": rand(2, n * d),
        "encoder.pos_emb_kv.freqs": rand(d // 2, scale=2.0),
        "encoder.output_proj.weight": rand(z, d),
        "encoder.output_proj.bias": rand(z),
        "decoder.input_proj.weight": rand(d, z),
        "decoder.input_proj.bias": rand(d),
        "decoder.cls_tokens.embedding.weight": rand(2, d),
        "decoder.pos_emb_q.freqs": rand(d // 2, scale=2.0),
        "decoder.output_proj.weight": rand(8, d),
        "decoder.output_proj.bias": rand(8),
    }
    for side in ("encoder", "decoder"):
        for i in range(SIZES["layers"]):
            p = f"{side}.layers.{i}."
            for norm in ("norm1", "norm2"):
                w[p + norm + ".weight"], w[p + norm + ".bias"] = 1 + rand(d, scale=0.1), rand(d, scale=0.1)
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                w[p + f"cross_attn.{proj}.weight"] = rand(d, d)
            w[p + "mlp.up_proj.weight"], w[p + "mlp.up_proj.bias"] = rand(4 * d, d), rand(4 * d)
            w[p + "mlp.down_proj.weight"], w[p + "mlp.down_proj.bias"] = rand(d, 4 * d), rand(d)
            w[p + "attn_scale.scale"], w[p + "mlp_scale.scale"] = rand(d), rand(d)
    if vq_type == "rvq":
        for level in range(levels):
            p = f"vq.quantizers.{level}."
            w[p + "codebook"] = rand(k, z, scale=1.0 / (level + 1))
            w[p + "embed_avg"], w[p + "cluster_size"] = w[p + "codebook"].clone(), torch.rand(k, generator=g)
            w[p + "inited"] = torch.tensor([True])
    else:
        levels = 1
        w["vq._codebook.embed"] = rand(1, k, z, scale=1.0)
        w["vq._codebook.embed_avg"], w["vq._codebook.cluster_size"] = (
            w["vq._codebook.embed"].clone(),
            torch.rand(1, k),
        )
        w["vq._codebook.initted"] = torch.tensor(True)
    config = {
        "model_type": "action_codec",
        "embodiment_config": EMBODIMENTS,
        "n_tokens": n * levels,
        "n_quantizers": levels,
        "z_dim": z,
        "vq_type": vq_type,
        "vq_codebook_size": k,
        "vq_commitment_weight": 0.25,
        "vq_decay": 0.99,
        "vq_kmeans_init": True,
        "vq_threshold_ema_dead_code": 2,
        "vq_quantizer_dropout": 0.25,
        **{f"{side}_dim": d for side in ("encoder", "decoder")},
        **{f"{side}_n_layers": SIZES["layers"] for side in ("encoder", "decoder")},
        **{f"{side}_n_heads": SIZES["heads"] for side in ("encoder", "decoder")},
        "encoder_add_self_attn": False,
        "decoder_add_self_attn": False,
        "encoder_pos_encoding_type": "fourier",
        "decoder_pos_encoding_type": "fourier",
        "decoder_cls_size": 1,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    save_file({key: v.contiguous() for key, v in w.items()}, str(folder / "model.safetensors"))
    return config, w


# -- their forward pass, re-implemented plainly on their tensors -----------------------------------------
def _sincos(length, dim):
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    out = torch.zeros(length, dim)
    out[:, 0::2], out[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
    return 0.1 * out


def _fourier(steps, hz, freqs):
    angle = (torch.arange(steps, dtype=torch.float32) / hz)[:, None] * 2 * np.pi * freqs[None]
    return 0.1 * torch.cat([angle.cos(), angle.sin()], dim=-1)


def _layer_norm(x, weight=None, bias=None, eps=1e-2):
    mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)
    y = (x - mean) / torch.sqrt(var + eps)
    return y if weight is None else y * weight + bias


def _perceiver(w, side, queries, context, heads):
    for i in range(SIZES["layers"]):
        p = f"{side}.layers.{i}."
        h = _layer_norm(queries, w[p + "norm1.weight"], w[p + "norm1.bias"])
        q = h @ w[p + "cross_attn.q_proj.weight"].T
        k = context @ w[p + "cross_attn.k_proj.weight"].T
        v = context @ w[p + "cross_attn.v_proj.weight"].T
        b, lq, d = q.shape
        q, k, v = (t.reshape(b, -1, heads, d // heads).transpose(1, 2) for t in (q, k, v))
        q, k = _layer_norm(q, eps=1e-5), _layer_norm(k, eps=1e-5)
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // heads), dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, lq, d) @ w[p + "cross_attn.out_proj.weight"].T
        queries = queries + out * w[p + "attn_scale.scale"]
        h = _layer_norm(queries, w[p + "norm2.weight"], w[p + "norm2.bias"])
        h = torch.nn.functional.gelu(h @ w[p + "mlp.up_proj.weight"].T + w[p + "mlp.up_proj.bias"])
        queries = (
            queries
            + (h @ w[p + "mlp.down_proj.weight"].T + w[p + "mlp.down_proj.bias"]) * w[p + "mlp_scale.scale"]
        )
    return queries


def reference_tokens_and_decode(w, x, embodiment, levels, vq_type="rvq"):
    """Their encode (level-major ids) and decode for normalized (B, 20, 7) chunks of one embodiment."""
    d, n, heads = SIZES["dim"], SIZES["per_level"], SIZES["heads"]
    b, steps, _ = x.shape
    padded = torch.zeros(b, steps, 8)
    padded[..., :7] = x
    context = padded @ w["encoder.input_proj.weight"].T + w["encoder.input_proj.bias"]
    context = context + _fourier(steps, 20.0, w["encoder.pos_emb_kv.freqs"])
    queries = w["encoder.cls_tokens.embedding.weight"][embodiment].reshape(n, d) + _sincos(n, d)
    queries = _perceiver(w, "encoder", queries.expand(b, n, d), context, heads)
    z = queries @ w["encoder.output_proj.weight"].T + w["encoder.output_proj.bias"]
    books = (
        [w[f"vq.quantizers.{s}.codebook"] for s in range(levels)]
        if vq_type == "rvq"
        else [w["vq._codebook.embed"][0]]
    )
    residual, ids, z_q = z, [], torch.zeros_like(z)
    for book in books:
        index = ((residual[..., None, :] - book) ** 2).sum(-1).argmin(-1)
        ids.append(index)
        residual, z_q = residual - book[index], z_q + book[index]
    memory = z_q @ w["decoder.input_proj.weight"].T + w["decoder.input_proj.bias"] + _sincos(n, d)
    times = w["decoder.cls_tokens.embedding.weight"][embodiment][None] + _fourier(
        steps, 20.0, w["decoder.pos_emb_q.freqs"]
    )
    out = _perceiver(w, "decoder", times.expand(b, steps, d), memory, heads)
    decoded = out @ w["decoder.output_proj.weight"].T + w["decoder.output_proj.bias"]
    return torch.cat(ids, dim=1).numpy(), decoded[..., :7].numpy()


@pytest.mark.parametrize("vq_type", ["rvq", "vq"])
def test_a_checkpoint_in_the_authors_layout_matches_their_forward_pass(tmp_path, vq_type):
    config, weights = released_checkpoint(tmp_path / "released", vq_type=vq_type)
    levels = config["n_quantizers"]
    tok = AutoActionTokenizer.from_pretrained(tmp_path / "released")  # recognises the layout: LIBERO's
    assert isinstance(tok, ActionCodecTokenizer)
    c = tok.config
    assert (c.horizon, c.freq_hz, c.num_tokens, c.rvq_stages, c.embodiment_names) == (
        20,
        20.0,
        4,
        levels - 1,
        ("a_franka_libero_20hz",),
    )
    assert tok.tokens_per_chunk == 4 * levels and tok.vocab_size == 32
    rng = np.random.default_rng(0)
    physical = rng.uniform(-1.2, 1.2, size=(64, 20, 7)) * np.abs(LIBERO_ACTION_SCALE)
    normalized = np.clip(physical / np.asarray(LIBERO_ACTION_SCALE), -1, 1)  # their LIBERO pipeline
    ids, decoded = reference_tokens_and_decode(
        weights, torch.tensor(normalized, dtype=torch.float32), 1, levels, vq_type
    )
    ours = tok.encode(physical)
    assert ours.shape == (64, 4 * levels)
    np.testing.assert_array_equal(ours, ids)
    assert len(np.unique(ids)) >= 8 and len({tuple(r) for r in ids}) > 8  # not a comparison of constants
    result = tok.decode(ids)
    assert result.valid.all()
    np.testing.assert_allclose(result.actions / np.asarray(LIBERO_ACTION_SCALE), decoded, atol=2e-5)


def test_every_key_maps_and_unsupported_checkpoints_are_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    from vla.tokenizers.actioncodec import released

    config, weights = released_checkpoint(tmp_path / "ok")
    mapped = released.state_dict(config, weights, "a_franka_libero_20hz")
    net_keys = set(ActionCodecTokenizer.from_released(tmp_path / "ok").net.state_dict())
    assert set(mapped) == net_keys  # every key of ours set, from every key of theirs
    assert len(weights) == len(mapped)
    assert mapped["encoder.action_in.weight"].shape == (32, 7)  # cut from their zero-padded width 8
    tok = ActionCodecTokenizer.from_released(
        tmp_path / "ok", embodiment="widowx_bridge_5hz", action_scale=(1.0,) * 8
    )
    assert (tok.horizon, tok.action_dim, tok.config.freq_hz) == (5, 8, 5.0)
    assert tok.decode(tok.encode(np.zeros((2, 5, 8)))).actions.shape == (2, 5, 8)
    with pytest.raises(ReleasedCheckpointError, match="action_scale=None is invalid for embodiment 'widowx"):
        ActionCodecTokenizer.from_released(tmp_path / "ok", embodiment="widowx_bridge_5hz")
    with pytest.raises(ReleasedCheckpointError, match="embodiment='ur5' is invalid"):
        ActionCodecTokenizer.from_released(tmp_path / "ok", embodiment="ur5")
    bad = dict(weights, **{"encoder.extra.weight": torch.zeros(1)})
    save_file(bad, str(tmp_path / "ok" / "model.safetensors"))
    with pytest.raises(ReleasedCheckpointError, match="'encoder.extra.weight' is not mapped"):
        ActionCodecTokenizer.from_released(tmp_path / "ok")
    del bad["encoder.extra.weight"], bad["encoder.output_proj.bias"]
    save_file(bad, str(tmp_path / "ok" / "model.safetensors"))
    with pytest.raises(RuntimeError, match="encoder.to_latent.bias"):
        ActionCodecTokenizer.from_released(tmp_path / "ok")
    assert "encoder.output_proj.bias" not in load_file(str(tmp_path / "ok" / "model.safetensors"))
    (tmp_path / "ok" / "config.json").write_text(json.dumps({**config, "encoder_add_self_attn": True}))
    with pytest.raises(ReleasedCheckpointError, match="encoder_add_self_attn=True is not supported"):
        ActionCodecTokenizer.from_released(tmp_path / "ok")


def test_an_imported_codec_saves_and_reloads_in_vla_layout(tmp_path):
    released_checkpoint(tmp_path / "released")
    tok = AutoActionTokenizer.from_pretrained(tmp_path / "released")
    tok.save_pretrained(tmp_path / "ours")
    again = AutoActionTokenizer.from_pretrained(tmp_path / "ours")
    x = np.random.default_rng(1).normal(size=(8, 20, 7)) * 0.2
    np.testing.assert_array_equal(again.encode(x), tok.encode(x))
    np.testing.assert_array_equal(again.decode(tok.encode(x)).actions, tok.decode(tok.encode(x)).actions)
    assert again.encode(x, embodiment="a_franka_libero_20hz").shape == (8, 12)


def test_vla_tokenizer_import_converts_a_released_folder(tmp_path, capsys):
    from vla.cli import main

    released_checkpoint(tmp_path / "released", vq_type="vq")
    main(["tokenizer", "import", str(tmp_path / "released"), "--out", str(tmp_path / "ours")])
    assert "embodiment a_franka_libero_20hz" in capsys.readouterr().out
    tok = AutoActionTokenizer.from_pretrained(tmp_path / "ours")
    assert (tok.tokens_per_chunk, tok.config.action_scale) == (4, LIBERO_ACTION_SCALE)
    main(["tokenizer", "import", str(tmp_path / "released"), "--embodiment", "widowx_bridge_5hz",
          "--action-scale", ",".join(["0.5"] * 8), "--out", str(tmp_path / "bridge")])  # fmt: skip
    assert AutoActionTokenizer.from_pretrained(tmp_path / "bridge").horizon == 5
