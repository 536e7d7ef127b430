"""Reading the ActionCodec checkpoints the authors released (e.g. ``ZibinDong/ActionCodec-Base-RVQft`` on
the Hub): their ``config.json`` (``model_type: "action_codec"``) and ``model.safetensors``, mapped onto
:class:`vla.tokenizers.actioncodec.tokenizer.ActionCodecTokenizer`.

Their layout, as their configuration/modeling code names it:

- config: ``embodiment_config`` ({name: {action_dim, freq, duration, description}}, ids in insertion order),
  ``n_tokens`` (all levels), ``n_quantizers``, ``z_dim``, ``vq_type`` (``vq`` | ``rvq``),
  ``vq_codebook_size``, ``vq_commitment_weight``, ``vq_decay``, ``vq_kmeans_init``,
  ``vq_threshold_ema_dead_code``, ``vq_quantizer_dropout``, ``encoder_dim`` / ``_n_layers`` / ``_n_heads`` /
  ``_add_self_attn`` / ``_add_causal_mask`` / ``_pos_encoding_type``, the same for ``decoder_``, and
  ``decoder_cls_size``;
- weights, per side ``encoder`` / ``decoder``: ``input_proj``, ``output_proj``, ``cls_tokens.embedding.weight``
  (embodiments x (queries * width)), the Fourier frequencies ``encoder.pos_emb_kv.freqs`` /
  ``decoder.pos_emb_q.freqs``, and per layer ``layers.{i}.norm1`` / ``norm2`` / ``cross_attn.{q,k,v,out}_proj``
  / ``mlp.up_proj`` / ``mlp.down_proj`` / ``attn_scale.scale`` / ``mlp_scale.scale``; the quantizer
  ``vq._codebook.{embed,embed_avg,cluster_size,initted}`` (``vq``, vector_quantize_pytorch) or
  ``vq.quantizers.{level}.{codebook,embed_avg,cluster_size,inited}`` (``rvq``, their own EMA quantizer).

Normalization: the codec folder holds none; their LIBERO pipeline divides the first six action dimensions
by max(|q01|, |q99|) of the LIBERO training set, negates the gripper and clips to [-1, 1]
(:data:`LIBERO_ACTION_SCALE`). Other embodiments need ``action_scale`` from the caller.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vla.tokenizers.actioncodec.tokenizer import ActionCodecTokenizer

RELEASED_CONFIG = "config.json"
RELEASED_WEIGHTS = "model.safetensors"
#: The LIBERO embodiment's name in the released checkpoints, then in their code's default config.
LIBERO_EMBODIMENTS = ("a_franka_libero_20hz", "franka_libero_20hz")
#: Their LIBERO normalization as one signed scale per dimension: x / scale (gripper negated).
LIBERO_ACTION_SCALE = (
    0.9375,
    0.9107142686843872,
    0.9375,
    0.20357142388820648,
    0.26357144117355347,
    0.375,
    -1.0,
)

# Their per-layer names -> ours (vla.tokenizers.actioncodec.net.Block).
_LAYER_NAMES = {
    "norm1": "attn_norm",
    "norm2": "mlp_norm",
    "cross_attn.q_proj": "attn.q",
    "cross_attn.k_proj": "attn.k",
    "cross_attn.v_proj": "attn.v",
    "cross_attn.out_proj": "attn.out",
    "mlp.up_proj": "mlp_in",
    "mlp.down_proj": "mlp_out",
    "attn_scale.scale": "attn_scale",
    "mlp_scale.scale": "mlp_scale",
}
_LAYER = re.compile(r"^(encoder|decoder)\.layers\.(\d+)\.(.+?)(\.weight|\.bias)?$")


class ReleasedCheckpointError(ValueError):
    """A folder in the authors' layout uses something this reader does not map (named in the message)."""


def is_released_folder(folder: Path) -> bool:
    file = folder / RELEASED_CONFIG
    if not file.is_file() or not (folder / RELEASED_WEIGHTS).is_file():
        return False
    try:
        return json.loads(file.read_text()).get("model_type") == "action_codec"
    except ValueError:
        return False


def pick_embodiment(names: list[str], embodiment: str | None) -> str:
    """The named embodiment, or by default LIBERO's."""
    if embodiment is not None:
        if embodiment not in names:
            raise ReleasedCheckpointError(f"embodiment={embodiment!r} is invalid: the checkpoint has {names}")
        return embodiment
    for name in LIBERO_EMBODIMENTS:
        if name in names:
            return name
    raise ReleasedCheckpointError(
        f"embodiment=None picks LIBERO's ({', '.join(LIBERO_EMBODIMENTS)}), which this checkpoint lacks; "
        f"pass one of {names}"
    )


def config_fields(config: dict[str, Any], embodiment: str) -> dict[str, Any]:
    """ActionCodecConfig fields for one embodiment of a released config; refuses what we do not implement."""
    unsupported = {
        "encoder_add_self_attn": False,
        "decoder_add_self_attn": False,
        "encoder_add_causal_mask": False,
        "decoder_add_causal_mask": False,
        "encoder_pos_encoding_type": "fourier",
        "decoder_pos_encoding_type": "fourier",
        "decoder_cls_size": 1,
    }
    for key, allowed in unsupported.items():
        if key in config and config[key] != allowed:
            raise ReleasedCheckpointError(f"{key}={config[key]!r} is not supported: allowed {allowed!r}")
    vq_type, levels = config.get("vq_type", "vq"), int(config.get("n_quantizers", 1))
    if vq_type not in ("vq", "rvq"):
        raise ReleasedCheckpointError(f"vq_type={vq_type!r} is not supported: allowed 'vq' or 'rvq'")
    spec = config["embodiment_config"][embodiment]
    horizon = round(float(spec["freq"]) * float(spec["duration"]))
    return {
        "horizon": horizon,
        "action_dim": int(spec["action_dim"]),
        "freq_hz": float(spec["freq"]),
        "num_tokens": int(config.get("n_tokens", 16)) // levels,
        "codebook_size": int(config.get("vq_codebook_size", 2048)),
        "latent_dim": int(config.get("z_dim", 512)),
        "dim": int(config.get("encoder_dim", 256)),
        "depth": int(config.get("encoder_n_layers", 6)),
        "heads": int(config.get("encoder_n_heads", 8)),
        "decoder_dim": int(config.get("decoder_dim", 256)),
        "decoder_depth": int(config.get("decoder_n_layers", 6)),
        "decoder_heads": int(config.get("decoder_n_heads", 8)),
        "num_embodiments": 1,
        "embodiment_names": (embodiment,),
        "rvq_stages": levels - 1,
        "quantizer_dropout": float(config.get("vq_quantizer_dropout", 0.25)),
        "commitment_weight": float(config.get("vq_commitment_weight", 0.25)),
        "ema_decay": float(config.get("vq_decay", 0.99)),
        "kmeans_init": bool(config.get("vq_kmeans_init", True)),
        "dead_code_threshold": float(config.get("vq_threshold_ema_dead_code", 2)),
    }


def state_dict(config: dict[str, Any], weights: dict[str, Any], embodiment: str) -> dict[str, Any]:
    """Their tensors -> our ActionCodecNet state dict for one embodiment. Every key of theirs is used
    (or raises): the embodiment's rows of the query tables, and the action projections cut to its
    action_dim (their inputs are zero-padded to the widest embodiment, so the cut is exact)."""
    names = list(config["embodiment_config"])
    index = names.index(embodiment)
    action_dim = int(config["embodiment_config"][embodiment]["action_dim"])
    levels = int(config.get("n_quantizers", 1))
    per_level = int(config.get("n_tokens", 16)) // levels
    out: dict[str, Any] = {}
    for key, value in weights.items():
        layer = _LAYER.match(key)
        if layer:
            side, i, name, suffix = layer.groups()
            if name not in _LAYER_NAMES:
                raise ReleasedCheckpointError(f"weight {key!r} is not mapped: unknown layer part {name!r}")
            out[f"{side}.blocks.{i}.{_LAYER_NAMES[name]}{suffix or ''}"] = value
        elif key == "encoder.input_proj.weight":
            out["encoder.action_in.weight"] = value[:, :action_dim]
        elif key == "encoder.input_proj.bias":
            out["encoder.action_in.bias"] = value
        elif key.startswith("encoder.output_proj."):
            out["encoder.to_latent." + key.rsplit(".", 1)[1]] = value
        elif key.startswith("decoder.input_proj."):
            out["decoder.latent_in." + key.rsplit(".", 1)[1]] = value
        elif key == "decoder.output_proj.weight":
            out["decoder.action_out.weight"] = value[:action_dim]
        elif key == "decoder.output_proj.bias":
            out["decoder.action_out.bias"] = value[:action_dim]
        elif key == "encoder.cls_tokens.embedding.weight":
            out["encoder.queries"] = value[index].reshape(1, per_level, -1)
        elif key == "decoder.cls_tokens.embedding.weight":
            out["decoder.queries"] = value[index].reshape(1, 1, -1)
        elif key in ("encoder.pos_emb_kv.freqs", "decoder.pos_emb_q.freqs"):
            out[key.split(".")[0] + ".time_freqs"] = value
        elif key.startswith("vq._codebook."):  # vq_type "vq": vector_quantize_pytorch, as ours
            out["quantizers.0." + key.removeprefix("vq.")] = value
        elif key.startswith("vq.quantizers."):  # vq_type "rvq": their EMA quantizer, one per level
            _, _, level, name = key.split(".", 3)
            target = f"quantizers.{level}._codebook."
            if name == "codebook":
                out[target + "embed"] = value[None]
            elif name == "embed_avg":
                out[target + "embed_avg"] = value[None]
            elif name == "cluster_size":
                out[target + "cluster_size"] = value[None]
            elif name == "inited":
                out[target + "initted"] = value.reshape(()).bool()
            else:
                raise ReleasedCheckpointError(
                    f"weight {key!r} is not mapped: unknown quantizer buffer {name!r}"
                )
        else:
            raise ReleasedCheckpointError(f"weight {key!r} is not mapped onto vla's ActionCodec")
    return out


def load_released(
    cls: type[ActionCodecTokenizer],
    folder: Path,
    embodiment: str | None,
    action_scale: tuple[float, ...] | None,
    device: str,
) -> ActionCodecTokenizer:
    """``cls`` (an ActionCodecTokenizer) from a folder in the authors' layout, for one embodiment: see
    :meth:`ActionCodecTokenizer.from_released`."""
    import numpy as np
    from safetensors.torch import load_file

    from vla.tokenizers.actioncodec.config import ActionCodecConfig
    from vla.tokenizers.normalize import FeatureStats

    config = json.loads((folder / RELEASED_CONFIG).read_text())
    name = pick_embodiment(list(config["embodiment_config"]), embodiment)
    if action_scale is None:
        if name not in LIBERO_EMBODIMENTS:
            raise ReleasedCheckpointError(
                f"action_scale=None is invalid for embodiment {name!r}: only LIBERO's normalization is "
                "known; pass one signed scale per action dimension"
            )
        action_scale = LIBERO_ACTION_SCALE
    fields = config_fields(config, name)
    tokenizer = cls(ActionCodecConfig(**fields, action_scale=tuple(action_scale), device=device))
    state = state_dict(config, load_file(str(folder / RELEASED_WEIGHTS)), name)
    tokenizer.net = tokenizer._build_net()
    tokenizer.net.load_state_dict(state, strict=True)  # raises naming any of our keys left unset
    tokenizer.net.eval()
    scale = np.abs(np.asarray(action_scale, dtype=np.float64))
    zeros = np.zeros_like(scale)
    tokenizer.action_stats = FeatureStats(zeros, scale, -scale, scale, -scale, scale)
    return tokenizer
