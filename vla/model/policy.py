"""VLAPolicy: a Hugging Face VLM that emits action tokens after the images, state and instruction.

The VLM comes from a :class:`~vla.model.backbones.Backbone` family (SmolVLM, LLaVA; vla/model/backbones/),
which loads it and knows its family's details. The action tokenizer's vocabulary becomes *new* rows of the
VLM's embedding and output matrices (text rows are never overwritten). Training puts the loss on the action
tokens (and the end token, autoregressive mode) only; inference decodes greedily over the action tokens
alone, both as ``config.decoding``'s :class:`~vla.model.decoding.DecodingMode` lays them out
(autoregressive, parallel or blockwise, see vla/model/decoding/), then turns them back into a chunk in
physical units through the same tokenizer. ``config.horizon`` is the one home of the action horizon: the
dataset's chunks and the tokenizer's fit read it. Everything needed to act is saved in one folder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from vla._logging import quiet_known_noise
from vla.config import ConfigError, check, check_choice, from_dict, to_dict
from vla.errors import UserError
from vla.hub import HubMixin
from vla.model.backbones import Backbone, backbone_for, hub_repo_id, resolve_model_source
from vla.model.decoding import (
    IGNORE_INDEX,  # noqa: F401 (re-exported: the label of unlabelled positions)
    ActionTokenMask,  # noqa: F401 (re-exported: the logits mask of autoregressive decoding)
    DecodeSpec,
    decode_action_ids,
    decoding_modes,
    get_decoding_mode,
    image_inputs,
    pad_sequences,
    slot_token_strings,
)
from vla.tokenizers.base import ActionTokenizer, AutoActionTokenizer
from vla.tokenizers.normalize import NormStats

logger = logging.getLogger(__name__)
quiet_known_noise()

POLICY_FILE = "vla_policy.json"


class BrokenPolicyError(ValueError, UserError):
    """A checkpoint that cannot act as it was trained: files changed since save, a tokenizer that does not fit
    the vocabulary, non-finite weights. Refused at load, never scored."""


ACTION_TOKENIZER_DIR = "action_tokenizer"
FINETUNE_MODES = ("full", "frozen_vision", "lora")


@dataclass(frozen=True)
class PolicyConfig:
    #: Preset name (``tiny``, ``smolvlm2-2.2b``, ``tiny-llava``, ``llava-interleave-qwen-0.5b``), local folder
    #: or Hub repo id of the base VLM (its family, a registered backbone, comes from its config.json).
    base_model: str = "tiny"
    #: Actions per chunk the policy predicts (lerobot's ``chunk_size``, openpi's ``action_horizon``): the
    #: one home of the horizon; the dataset's chunks and the action tokenizer's fit read it.
    horizon: int = 8
    #: Dataset features fed to the model as images, in this order.
    image_keys: tuple[str, ...] = ("image", "wrist_image")
    #: Append the proprio state (normalized, 2 decimals) to the prompt as text.
    include_state: bool = False
    #: Side in pixels of the camera images the policy was trained on (the dataset's; training fills it in).
    #: Evaluation renders at this size, so the processor sees images as it did in training.
    image_size: int | None = None
    #: ``auto``: on CUDA flash_attention_2 when installed (and the decoding mode allows it), else sdpa;
    #: without CUDA eager, the faster there (bench/train_attention.py).
    attn_implementation: str = "auto"
    #: Standard deviation (in units of the text embeddings' std) of the new action rows around their mean.
    new_token_init_scale: float = 1.0
    #: ``full``: train everything; ``frozen_vision``: all but the vision encoder; ``lora``: LoRA adapters on
    #: the text model plus the new action-token rows of the embedding and output matrices.
    finetune: str = "full"
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    #: Modules that get LoRA adapters (regex on module names); ``null``: the backbone's text-model attention
    #: and MLP projections.
    lora_target: str | None = None
    #: How the action tokens come out: ``autoregressive`` (one forward pass per token), ``parallel`` (all
    #: of them in one pass, from learned slot tokens) or ``blockwise`` (one pass per block of
    #: ``decoding_block_size`` tokens). Fixed-length tokenizers only for the last two.
    decoding: str = "autoregressive"
    decoding_block_size: int = 4
    #: Variable-length tokenizers (FAST): emit only token rows that decode to exactly one chunk (see
    #: ``ExactLengthMask``). Off by default: on the stage-1 FAST policy it made every row decode but cut
    #: success from 14/50 to 5/50 (README). Off: the plain action-token mask; malformed rows are zero-padded
    #: or cut.
    constrain_lengths: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.horizon >= 1, "policy.horizon", self.horizon, "must be >= 1")
        check_choice("finetune", self.finetune, FINETUNE_MODES)
        check(self.lora_rank >= 1, "lora_rank", self.lora_rank, "must be >= 1")
        check(0.0 <= self.lora_dropout < 1.0, "lora_dropout", self.lora_dropout, "must be in [0, 1)")
        check(len(self.image_keys) >= 1, "image_keys", self.image_keys, "at least one image feature")
        check(self.image_size is None or self.image_size >= 8, "image_size", self.image_size, "None or >= 8")
        check_choice(
            "attn_implementation", self.attn_implementation, ("auto", "sdpa", "eager", "flash_attention_2")
        )
        check(
            self.new_token_init_scale >= 0, "new_token_init_scale", self.new_token_init_scale, "must be >= 0"
        )
        check_choice("decoding", self.decoding, decoding_modes())
        check(self.decoding_block_size >= 1, "decoding_block_size", self.decoding_block_size, "must be >= 1")
        check(
            get_decoding_mode(self.decoding).flash_attention
            or self.attn_implementation != "flash_attention_2",
            "attn_implementation",
            self.attn_implementation,
            f"decoding={self.decoding!r} needs 4D attention masks, which flash attention cannot take; "
            "expected one of 'auto', 'sdpa', 'eager'",
        )


def choose_attn_implementation(
    requested: str = "auto",
    decoding: str = "autoregressive",
    weights_dtype: Any = None,
    autocast_dtype: Any = None,
) -> str:
    """``auto``: flash attention where CUDA and the decoding mode allow it, else SDPA; without CUDA, eager
    for float32 weights under bfloat16 autocast (``autocast_dtype``: how training multiplies), else SDPA.
    ``None`` dtypes mean float32 weights and no autocast."""
    if requested != "auto":
        return requested
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        if weights_dtype in (None, torch.float32) and autocast_dtype == torch.bfloat16:
            # under bf16 autocast eager trained the stage-1 model 1.15x faster than SDPA with the same losses;
            # in float32 SDPA was the faster (1.09-1.12x on two hosts): bench/train_attention.py, README
            return "eager"
        # and with half weights eager would round the attention probabilities to their dtype; SDPA's CPU
        # kernel keeps them in float32, so half weights act like float32 ones (tests/test_eval_device.py)
        return "sdpa"
    if importlib.util.find_spec("flash_attn") is not None:
        if get_decoding_mode(decoding).flash_attention:
            return "flash_attention_2"
        logger.info(
            "decoding=%s needs 4D attention masks, which flash attention cannot take: using sdpa", decoding
        )
    return "sdpa"


def action_token_strings(n: int) -> list[str]:
    return [f"<action_{i}>" for i in range(n)]


def check_decoding(config: PolicyConfig, action_tokenizer: ActionTokenizer) -> None:
    """The tokenizer chunks ``config.horizon`` actions, and the decoding mode can emit its tokens (parallel
    and blockwise predict a fixed number of tokens: variable-length tokenizers cannot)."""
    if action_tokenizer.horizon != config.horizon:
        raise ConfigError(
            f"policy.horizon={config.horizon} is invalid with the {action_tokenizer.tokenizer_type!r} action "
            f"tokenizer, whose chunks hold {action_tokenizer.horizon} actions; set "
            f"policy.horizon={action_tokenizer.horizon}"
        )
    if action_tokenizer.variable_length and not get_decoding_mode(config.decoding).variable_length:
        fits = [name for name in decoding_modes() if get_decoding_mode(name).variable_length]
        raise ConfigError(
            f"decoding={config.decoding!r} is invalid with the variable-length "
            f"{action_tokenizer.tokenizer_type!r} action tokenizer (its chunks have no fixed number of "
            f"tokens); expected {', '.join(map(repr, fits))}, or a fixed-length tokenizer (binning, actioncodec)"
        )


def _to_uint8_hwc(image: Any) -> np.ndarray:
    """LeRobot gives float CHW in [0, 1]; the simulator gives uint8 HWC. The processor wants uint8 HWC."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = image.transpose(1, 2, 0)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return image


class VLAPolicy(HubMixin):
    artifact_kind = "VLA policy"

    def __init__(
        self,
        model,
        processor,
        action_tokenizer: ActionTokenizer,
        norm_stats: NormStats,
        config: PolicyConfig,
        action_token_offset: int,
        backbone: Backbone | None = None,
    ) -> None:
        check_decoding(config, action_tokenizer)
        self.model, self.processor = model, processor
        self.action_tokenizer, self.norm_stats, self.config = action_tokenizer, norm_stats, config
        self.action_token_offset = action_token_offset
        self.backbone = backbone if backbone is not None else backbone_for(config.base_model)
        self.backbone.fix_dtypes(model)
        #: Slot tokens (parallel, blockwise) follow the action tokens.
        self.slot_token_offset = action_token_offset + action_tokenizer.vocab_size
        n_slots = self.decoding_mode.n_slot_tokens(
            action_tokenizer.tokens_per_chunk, config.decoding_block_size
        )
        if n_slots and len(processor.tokenizer) < self.slot_token_offset + n_slots:
            raise ValueError(
                f"decoding={config.decoding!r} needs {n_slots} slot tokens after the action tokens; the "
                f"model's vocabulary ends at {len(processor.tokenizer)} (was it extended for another mode?)"
            )

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_base(
        cls,
        config: PolicyConfig,
        action_tokenizer: ActionTokenizer,
        norm_stats: NormStats,
        autocast_dtype: Any = None,
    ) -> Self:
        """Load the base VLM (through its backbone) and extend its vocabulary with the tokenizer's action
        tokens. ``autocast_dtype``: the dtype training will multiply in (bf16 autocast), for the attention."""
        check_decoding(config, action_tokenizer)
        if not action_tokenizer.is_fitted:
            raise ValueError("the action tokenizer must be fitted before it extends a model's vocabulary")
        source = resolve_model_source(config.base_model)
        backbone = backbone_for(config.base_model)
        processor = backbone.load_processor(source, config.base_model)
        attn = choose_attn_implementation(
            config.attn_implementation, config.decoding, autocast_dtype=autocast_dtype
        )
        logger.info("attention implementation: %s", attn)
        model = backbone.load_model(source, attn)
        n_actions = action_tokenizer.vocab_size
        n_slots = get_decoding_mode(config.decoding).n_slot_tokens(
            action_tokenizer.tokens_per_chunk, config.decoding_block_size
        )
        offset = extend_vocabulary(model, processor.tokenizer, n_actions, config, n_slots, backbone)
        model = apply_finetune_mode(
            model,
            config,
            list(range(offset, offset + n_actions)),
            slot_token_ids=list(range(offset + n_actions, offset + n_actions + n_slots)),
            backbone=backbone,
        )
        return cls(model, processor, action_tokenizer, norm_stats, config, offset, backbone)

    @property
    def is_lora(self) -> bool:
        return self.config.finetune == "lora"

    @property
    def decoding_mode(self):
        return get_decoding_mode(self.config.decoding)

    @property
    def eos_token_id(self) -> int:
        """The backbone's end-of-turn token: it closes every autoregressive answer."""
        return self.backbone.end_token_id(self.processor.tokenizer)

    @property
    def decode_spec(self) -> DecodeSpec:
        return DecodeSpec(
            mode=self.config.decoding,
            tokens_per_chunk=self.action_tokenizer.tokens_per_chunk,
            action_offset=self.action_token_offset,
            action_vocab=self.action_tokenizer.vocab_size,
            slot_offset=self.slot_token_offset,
            block_size=self.config.decoding_block_size,
            pad_id=self.processor.tokenizer.pad_token_id,
            # fixed-length tokenizers never stop early
            end_token_id=self.eos_token_id if self.action_tokenizer.variable_length else None,
            eos_id=self.eos_token_id,
            **self._length_constraint(),
        )

    def _length_constraint(self) -> dict[str, Any]:
        lengths = self.action_tokenizer.token_lengths() if self.config.constrain_lengths else None
        if lengths is None:
            return {}
        per_token, per_chunk = lengths
        return {"token_lengths": tuple(int(v) for v in per_token), "values_per_chunk": int(per_chunk)}

    # -- prompts and batches -------------------------------------------------------------------
    def prompt_text(self, instruction: str, state: Any | None = None) -> str:
        text = f"What action should the robot take to {instruction.strip().rstrip('.').lower()}?"
        if self.config.include_state and state is not None:
            normalized = self.norm_stats["state"].normalize(np.asarray(state, dtype=np.float64))
            text += " State: " + " ".join(f"{v:.2f}" for v in np.clip(normalized, -9.99, 9.99))
        content = [{"type": "image"} for _ in self.config.image_keys] + [{"type": "text", "text": text}]
        messages = [{"role": "user", "content": content}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True)

    def _encode_prompts(self, observations: list[dict[str, Any]]) -> tuple[list[Any], dict[str, Any]]:
        """The prompts' token ids (1D each, unpadded) and the batch's image inputs (their layout is the
        backbone processor's), from one processor call: the processor validates its keyword arguments on
        every call, so one call per batch is 2.3x faster than one per sample (bench/train_step_parts.py)."""
        images = [[_to_uint8_hwc(o[key]) for key in self.config.image_keys] for o in observations]
        texts = [self.prompt_text(o["task"], o.get("state")) for o in observations]
        out = self.processor(text=texts, images=images, return_tensors="pt", padding=True)
        keep = out["attention_mask"].bool()  # padding goes, on whichever side the tokenizer pads
        return [ids[mask] for ids, mask in zip(out["input_ids"], keep, strict=True)], image_inputs(dict(out))

    def collate(
        self, samples: list[dict[str, Any]], with_targets: bool = True, padding_side: str = "right"
    ) -> dict[str, Any]:
        """Samples (images, ``task``, ``state``, ``actions`` chunk) -> model inputs.

        Without targets: the prompts with a 2D attention mask, what every decoding mode starts from.
        With targets: the decoding mode's training batch (vla/model/decoding/): for autoregressive, the
        action tokens and the end token follow the prompt and are the only labelled positions; for parallel
        and blockwise, the mode's training sequence with its 4D attention mask, position ids and
        ``shift_labels`` (the label at a position is the token its logits must predict), set at the action
        positions only.
        """
        prompts, images = self._encode_prompts(samples)
        if not with_targets:
            pad_id = self.processor.tokenizer.pad_token_id
            return {**pad_sequences(prompts, None, pad_id, padding_side), **images}
        chunks = np.stack([np.asarray(s["actions"], dtype=np.float64) for s in samples])
        targets = self.action_tokenizer.encode(chunks) + self.action_token_offset
        batch = self.decoding_mode.training_batch(
            prompts, targets, self.decode_spec, self.model, padding_side
        )
        return {**batch, **images}

    # -- training and inference ----------------------------------------------------------------
    def loss(self, batch: dict[str, Any]):
        """Mean cross-entropy over the labelled (action and end) tokens."""
        return self.model(**batch).loss

    def predict_action_ids(
        self, observations: list[dict[str, Any]], temperature: float = 0.0
    ) -> list[np.ndarray]:
        """Observations -> action-token ids (relative to the action offset), one row each, before the
        action tokenizer turns them into chunks (rows may be malformed for variable-length tokenizers):
        greedy, or drawn at ``temperature`` > 0."""
        batch = self.collate(list(observations), with_targets=False, padding_side="left")
        device = next(self.model.parameters()).device
        batch = {k: v.to(device) for k, v in batch.items()}
        return decode_action_ids(self.model, batch, self.decode_spec, temperature)

    def predict_action_chunk(
        self,
        observations: dict[str, Any] | list[dict[str, Any]],
        return_valid: bool = False,
        samples: int = 1,
        temperature: float = 1.0,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """One observation (or a list) -> action chunk(s) (horizon, action_dim) in physical units.

        An observation holds the image features named in ``config.image_keys``, ``task`` (the
        instruction) and ``state``. Decoding is greedy over the action tokens, in ``config.decoding``'s
        mode; with ``samples`` > 1, that many chunks are drawn per observation at ``temperature`` (torch's
        global generator) and their mean, action by action, is returned (valid if every draw decoded
        cleanly).
        """
        single = isinstance(observations, dict)
        rows = [observations] if single else list(observations)
        if samples > 1:  # each observation repeated: one batched decoding for all the draws
            rows = [row for row in rows for _ in range(samples)]
        decoded = self.action_tokenizer.decode(
            self.predict_action_ids(rows, temperature=temperature if samples > 1 else 0.0)
        )
        actions, valid = decoded.actions.astype(np.float32), decoded.valid
        if samples > 1:
            actions = actions.reshape(-1, samples, *actions.shape[1:]).mean(axis=1)
            valid = valid.reshape(-1, samples).all(axis=1)
        if return_valid:  # whether each chunk's tokens decoded cleanly (for evaluation statistics)
            return (actions[0], valid[0]) if single else (actions, valid)
        return actions[0] if single else actions

    # -- persistence ---------------------------------------------------------------------------
    def _save_pretrained(self, folder: Path, state_dict: dict[str, Any] | None = None) -> None:
        """``state_dict``: the full weights when the model's own are sharded (FSDP gathers them)."""
        self.model.save_pretrained(folder, state_dict=state_dict)
        if self.is_lora:
            _record_adapter_base(folder / "adapter_config.json", self.config.base_model)
        self.processor.save_pretrained(folder)
        self.action_tokenizer.save_pretrained(folder / ACTION_TOKENIZER_DIR)
        self.norm_stats.save_pretrained(folder)
        meta = {
            "config": to_dict(self.config),
            "action_token_offset": self.action_token_offset,
            "integrity": _integrity_record(folder),
        }
        (folder / POLICY_FILE).write_text(json.dumps(meta, indent=1))

    @classmethod
    def _from_pretrained(cls, folder: Path, dtype: Any = None, **kwargs: Any) -> Self:
        """``dtype``: cast the weights to it (a torch dtype; None keeps the saved float32), with the attention
        kernel that suits it."""
        meta_file = folder / POLICY_FILE
        if not meta_file.is_file():
            raise FileNotFoundError(f"{folder} is not a VLA policy checkpoint: it has no {POLICY_FILE}")
        meta = json.loads(meta_file.read_text())
        model_config = "adapter_config.json" if (folder / "adapter_config.json").is_file() else "config.json"
        if not (folder / model_config).is_file():
            raise BrokenPolicyError(
                f"{folder} is missing {model_config} (the model's architecture): an incomplete copy of a "
                "checkpoint; copy or download the whole folder"
            )
        _check_integrity(folder, meta.get("integrity"))
        tokenizer = AutoActionTokenizer.from_pretrained(folder / ACTION_TOKENIZER_DIR)
        # checkpoints saved before the policy config held the horizon: their tokenizer's
        config = from_dict(PolicyConfig, {"horizon": tokenizer.horizon, **meta["config"]})
        attn = choose_attn_implementation(config.attn_implementation, config.decoding, dtype)
        lora = (folder / "adapter_config.json").is_file()
        backbone = backbone_for(config.base_model, None if lora else folder)
        processor = backbone.load_processor(folder)
        if lora:
            model = _load_lora_model(folder, config, attn, len(processor.tokenizer), backbone)
        else:
            model = backbone.load_model(folder, attn)
        norm_stats = NormStats.from_pretrained(folder)
        offset = int(meta["action_token_offset"])
        _check_vocabulary_fits(folder, model, processor.tokenizer, tokenizer, offset)
        _check_finite_weights(folder, model)
        if dtype is not None:
            model.to(dtype=dtype)
        return cls(model, processor, tokenizer, norm_stats, config, offset, backbone)


def _weight_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors"))


def _integrity_record(folder: Path) -> dict[str, Any]:
    """sha256 of the weight files and of the action tokenizer folder, checked at every load."""
    from vla.hub import file_sha256, folder_sha256

    return {
        "weights": {path.name: file_sha256(path) for path in _weight_files(folder)},
        "action_tokenizer": folder_sha256(folder / ACTION_TOKENIZER_DIR),
    }


def _check_integrity(folder: Path, record: dict[str, Any] | None) -> None:
    """Refuse weights or a tokenizer that changed since the checkpoint was saved (checkpoints written before
    vla recorded digests have none to check)."""
    from vla.hub import file_sha256, folder_sha256

    if not record:
        return
    for name, expected in record.get("weights", {}).items():
        path = folder / name
        if not path.is_file():
            raise BrokenPolicyError(f"{folder}: weight file {name} is missing")
        if file_sha256(path) != expected:
            raise BrokenPolicyError(
                f"{folder}: {name} differs from the weights saved with this checkpoint (sha256 mismatch); "
                "it was modified or truncated after saving"
            )
    expected = record.get("action_tokenizer")
    if expected and folder_sha256(folder / ACTION_TOKENIZER_DIR) != expected:
        raise BrokenPolicyError(
            f"{folder}: {ACTION_TOKENIZER_DIR}/ is not the action tokenizer this policy was trained with "
            "(sha256 mismatch); a policy's tokens mean nothing under another tokenizer"
        )


def _check_vocabulary_fits(folder: Path, model, text_tokenizer, action_tokenizer, offset: int) -> None:
    rows = model.get_input_embeddings().weight.shape[0]
    end = offset + action_tokenizer.vocab_size
    if end > rows:
        raise BrokenPolicyError(
            f"{folder}: the action tokenizer's {action_tokenizer.vocab_size} tokens from id {offset} end at "
            f"{end}, past the model's {rows} embedding rows (a tokenizer from another policy?)"
        )
    first = text_tokenizer.convert_tokens_to_ids(action_token_strings(1)[0])
    if first != offset:
        raise BrokenPolicyError(
            f"{folder}: <action_0> has id {first} in the processor's vocabulary, not the recorded offset {offset}"
        )


def nonfinite_parameters(model) -> list[str]:
    """Names of the parameters holding NaN or inf (of this process's shard, for FSDP's DTensors)."""
    import torch

    with torch.no_grad():
        return [
            name
            for name, param in model.named_parameters()
            if not torch.isfinite(param.to_local() if hasattr(param, "to_local") else param).all()
        ]


def _check_finite_weights(folder: Path, model) -> None:
    bad = nonfinite_parameters(model)
    if bad:
        raise BrokenPolicyError(f"{folder}: weight {bad[0]} holds NaN or infinite values")


def apply_finetune_mode(
    model,
    config: PolicyConfig,
    action_token_ids: list[int],
    slot_token_ids: list[int] = (),
    backbone: Backbone | None = None,
):
    """Freeze or wrap the model for ``config.finetune``; returns the model to train."""
    backbone = backbone if backbone is not None else backbone_for(config.base_model)
    if config.finetune == "frozen_vision":
        vision = backbone.vision_encoder(model)
        for param in vision.parameters():
            param.requires_grad_(False)
    elif config.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.lora_target or backbone.lora_target,
            # The new action rows must learn too; peft trains just those rows of both matrices. Slot tokens
            # (parallel, blockwise) are inputs only: their embedding rows learn, their output rows are unused.
            trainable_token_indices={
                "embed_tokens": list(action_token_ids) + list(slot_token_ids),
                "lm_head": list(action_token_ids),
            },
        )
        model = get_peft_model(model, lora)
    return model


def _record_adapter_base(adapter_config: Path, base_model: str) -> None:
    """peft records the folder the base weights were read from (a Hub cache snapshot path here); the Hub
    and other machines need the base model's repo id (or the preset name, which vla resolves)."""
    if adapter_config.is_file():
        meta = json.loads(adapter_config.read_text())
        meta["base_model_name_or_path"] = hub_repo_id(base_model) or base_model
        adapter_config.write_text(json.dumps(meta, indent=2, sort_keys=True))


def _load_lora_model(folder: Path, config: PolicyConfig, attn: str, vocab_size: int, backbone: Backbone):
    """Base model (from its preset, path or Hub id) + the saved adapter, merged for inference speed."""
    from peft import PeftModel

    base = backbone.load_model(resolve_model_source(config.base_model), attn)
    backbone.resize_vocabulary(base, vocab_size)
    return PeftModel.from_pretrained(base, folder).merge_and_unload()


def extend_vocabulary(
    model,
    text_tokenizer,
    n_action_tokens: int,
    config: PolicyConfig,
    n_slot_tokens: int = 0,
    backbone: Backbone | None = None,
) -> int:
    """Add ``n_action_tokens`` action tokens, then ``n_slot_tokens`` slot tokens (parallel and blockwise
    decoding), as new embedding/output rows; return the first action id.

    New rows start at the mean of the existing rows plus seeded Gaussian noise scaled by their std, so
    they are distinct (resize's mean init would make them identical) yet in the text rows' range. The
    action rows get the same values whatever the number of slot rows after them.
    """
    import torch

    old_size = model.get_input_embeddings().weight.shape[0]
    strings = action_token_strings(n_action_tokens) + slot_token_strings(n_slot_tokens)
    added = text_tokenizer.add_tokens(strings, special_tokens=True)
    if added != len(strings):
        raise ValueError(f"the text tokenizer already holds action tokens ({len(strings) - added} of them)")
    offset = len(text_tokenizer) - len(strings)
    if offset < old_size:
        raise ValueError(f"new action ids start at {offset}, inside the model's {old_size} existing rows")
    (backbone if backbone is not None else backbone_for(config.base_model)).resize_vocabulary(
        model, offset + len(strings)
    )
    generator = torch.Generator().manual_seed(config.seed)
    with torch.no_grad():
        for matrix in (model.get_input_embeddings().weight, model.get_output_embeddings().weight):
            old = matrix[:old_size].float()
            mean, std = old.mean(0), old.std(0)
            noise = torch.randn(n_action_tokens, matrix.shape[1], generator=generator)
            matrix[offset : offset + n_action_tokens] = (mean + config.new_token_init_scale * std * noise).to(
                matrix.dtype
            )
            if offset > old_size:  # padding rows between the old vocabulary and the action tokens
                matrix[old_size:offset] = mean.to(matrix.dtype)
        for matrix in (model.get_input_embeddings().weight, model.get_output_embeddings().weight):
            noise = torch.randn(n_slot_tokens, matrix.shape[1], generator=generator)
            old = matrix[:old_size].float()
            rows = old.mean(0) + config.new_token_init_scale * old.std(0) * noise
            matrix[offset + n_action_tokens :] = rows.to(matrix.dtype)
    return offset
