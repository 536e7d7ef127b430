"""Decoding modes (see base.py for the interface): autoregressive, parallel and blockwise are built in; a
new mode is one file here with a ``@register_decoding_mode`` class, imported below so that it registers."""

# registration order is the order config errors list the modes in
from vla.model.decoding import autoregressive, parallel, blockwise  # noqa: F401, I001 (they register)
from vla.model.decoding.autoregressive import ActionTokenMask, ExactLengthMask
from vla.model.decoding.base import (
    IGNORE_INDEX,
    DecodeSpec,
    DecodingMode,
    Layout,
    Row,
    Sequences,
    allowed_attention,
    attention_mask_4d,
    decode_action_ids,
    decoding_modes,
    get_decoding_mode,
    image_inputs,
    model_attn_implementation,
    n_slot_tokens,
    pad_rows,
    pad_sequences,
    prompt_rows,
    register_decoding_mode,
    slot_token_strings,
    training_row,
)
from vla.model.decoding.blockwise import blocks

#: The built-in modes (``decoding_modes()`` also lists modes registered later).
DECODING_MODES = decoding_modes()

__all__ = [
    "DECODING_MODES",
    "IGNORE_INDEX",
    "ActionTokenMask",
    "DecodeSpec",
    "DecodingMode",
    "ExactLengthMask",
    "Layout",
    "Row",
    "Sequences",
    "allowed_attention",
    "attention_mask_4d",
    "blocks",
    "decode_action_ids",
    "decoding_modes",
    "get_decoding_mode",
    "image_inputs",
    "model_attn_implementation",
    "n_slot_tokens",
    "pad_rows",
    "pad_sequences",
    "prompt_rows",
    "register_decoding_mode",
    "slot_token_strings",
    "training_row",
]
