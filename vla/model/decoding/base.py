"""The DecodingMode interface: how the action tokens of a chunk come out of the VLM, and how a mode lays out
its training sequence.

A mode (autoregressive.py, parallel.py, blockwise.py) is one :class:`DecodingMode` subclass under
``@register_decoding_mode``: the slot tokens it adds to the vocabulary, its training batch (row layout,
labels, attention mask, positions) and its inference loop. This module holds what modes share: the
:class:`DecodeSpec`, position roles and the 4D attention masks built from them, and the registry; it never
imports the modes (the package ``__init__`` does, so that they register).

Masks are custom 4D attention masks ``(batch, 1, query, key)`` passed as ``attention_mask``: transformers'
mask creation (``masking_utils``) returns a 4D mask as it is, and the VLMs merge the image features into
the embeddings at the image-token positions before the text model sees the mask. They are boolean for
SDPA and additive float for eager attention; flash-attention cannot take them (``PolicyConfig`` refuses
``attn_implementation=flash_attention_2`` with these modes and ``auto`` picks SDPA on CUDA, eager without).
Padding (left at inference, right in training) is a role of its own: no query sees a padding key, and a padding query sees
only itself (so that no row of the mask is empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

IGNORE_INDEX = -100

#: Position roles in a layout.
PAD, REAL, SLOT = 0, 1, 2


def slot_token_strings(n: int) -> list[str]:
    return [f"<action_slot_{i}>" for i in range(n)]


@dataclass(frozen=True)
class DecodeSpec:
    """What decoding needs to know about the policy's vocabulary and mode."""

    mode: str
    tokens_per_chunk: int
    action_offset: int
    action_vocab: int
    slot_offset: int
    block_size: int
    pad_id: int
    #: End token that may stop autoregressive decoding early (variable-length tokenizers); else None.
    end_token_id: int | None = None
    #: Values each action token stands for and the number a chunk needs (``ActionTokenizer.token_lengths``);
    #: autoregressive decoding then emits only rows that add up exactly (FAST). None: no constraint.
    token_lengths: tuple[int, ...] | None = None
    values_per_chunk: int = 0
    #: The token that closes an autoregressive training answer (always labelled, fixed-length or not).
    eos_id: int | None = None

    def slot_id(self, j: int) -> int:
        return self.slot_offset + j


# -- layouts and masks ---------------------------------------------------------------------------------
@dataclass
class Layout:
    """The attention role of every position (batch, length).

    ``kind``: PAD, REAL (prompt or action token) or SLOT. ``order``: a real token's index among its row's
    real tokens (-1 otherwise). ``sees``: how many of the row's first real tokens the position attends to
    (``order + 1`` for a real token: causal). ``group``: a slot's block (-1 otherwise); slots of the same
    block attend to each other.
    """

    kind: Any
    order: Any
    sees: Any
    group: Any

    def cat(self, other: Layout) -> Layout:
        import torch

        return Layout(*(torch.cat([a, b], dim=1) for a, b in zip(self.fields(), other.fields(), strict=True)))

    def crop(self, length: int) -> Layout:
        return Layout(*(f[:, :length] for f in self.fields()))

    def fields(self) -> tuple:
        return self.kind, self.order, self.sees, self.group


def allowed_attention(queries: Layout, keys: Layout):
    """(batch, Q, K) bool: may each query attend to each key? The queries are the last Q of the keys."""
    import torch

    q, k = queries, keys
    sees_real = (k.kind == REAL)[:, None, :] & (k.order[:, None, :] < q.sees[:, :, None])
    same_block = (
        (q.kind == SLOT)[:, :, None]
        & (k.kind == SLOT)[:, None, :]
        & (q.group[:, :, None] == k.group[:, None, :])
    )
    allowed = sees_real | same_block
    n_q, n_k = q.kind.shape[1], k.kind.shape[1]
    index = torch.arange(n_q)
    allowed[:, index, n_k - n_q + index] = True  # every position sees itself: no empty row (padding)
    return allowed


def attention_mask_4d(allowed, attn_implementation: str, dtype):
    """The (batch, 1, Q, K) ``attention_mask`` the attention implementation expects for ``allowed``."""
    import torch

    from vla.config import ConfigError

    if attn_implementation == "flash_attention_2":
        raise ConfigError(
            "attn_implementation='flash_attention_2' is invalid for parallel or blockwise decoding: flash "
            "attention cannot take their 4D attention masks; expected one of 'auto', 'sdpa', 'eager'"
        )
    if attn_implementation == "eager":  # eager adds the mask to the scores
        additive = torch.zeros(allowed.shape, dtype=dtype)
        return additive.masked_fill(~allowed, torch.finfo(dtype).min)[:, None]
    return allowed[:, None]


def model_attn_implementation(model) -> str:
    """The text model's attention implementation (what a 4D attention mask must suit)."""
    return model.config.get_text_config()._attn_implementation


# -- sequences -----------------------------------------------------------------------------------------
class Row:
    """One sequence under construction: token ids, roles, positions and the shifted labels (the label at
    a position is the token its logits must predict)."""

    def __init__(self, first_order: int = 0) -> None:
        self.ids: list[int] = []
        self.kind: list[int] = []
        self.order: list[int] = []
        self.sees: list[int] = []
        self.group: list[int] = []
        self.positions: list[int] = []
        self.labels: list[int] = []
        self.n_real = first_order

    def __len__(self) -> int:
        return len(self.ids)

    def real(self, ids: Sequence[int]) -> Row:
        for token in ids:
            self._add(int(token), REAL, self.n_real, self.n_real + 1, -1, self.n_real, IGNORE_INDEX)
            self.n_real += 1
        return self

    def slots(self, ids: Sequence[int], sees: int, group: int, positions: Sequence[int], labels=None) -> Row:
        labels = [IGNORE_INDEX] * len(ids) if labels is None else labels
        for token, pos, label in zip(ids, positions, labels, strict=True):
            self._add(int(token), SLOT, -1, sees, group, int(pos), int(label))
        return self

    def _add(self, token: int, kind: int, order: int, sees: int, group: int, pos: int, label: int) -> None:
        self.ids.append(token)
        self.kind.append(kind)
        self.order.append(order)
        self.sees.append(sees)
        self.group.append(group)
        self.positions.append(pos)
        self.labels.append(label)


@dataclass
class Sequences:
    input_ids: Any
    position_ids: Any
    layout: Layout
    shift_labels: Any


def pad_rows(rows: list[Row], pad_id: int, padding_side: str) -> Sequences:
    import torch

    length = max(len(r) for r in rows)
    fills = dict(ids=pad_id, kind=PAD, order=-1, sees=0, group=-1, positions=0, labels=IGNORE_INDEX)
    out = {name: torch.full((len(rows), length), fill, dtype=torch.long) for name, fill in fills.items()}
    for i, row in enumerate(rows):
        sl = slice(length - len(row), length) if padding_side == "left" else slice(0, len(row))
        for name, tensor in out.items():
            tensor[i, sl] = torch.as_tensor(getattr(row, name), dtype=torch.long)
    layout = Layout(out["kind"], out["order"], out["sees"], out["group"])
    return Sequences(out["ids"], out["positions"], layout, out["labels"])


def prompt_rows(batch: dict[str, Any]) -> list[list[int]]:
    """Un-pad the prompts of a (left- or right-padded) prompt batch."""
    ids, mask = batch["input_ids"].cpu(), batch["attention_mask"].cpu().bool()
    return [ids[i][mask[i]].tolist() for i in range(ids.shape[0])]


def pad_sequences(
    sequences: list[Any], labels: list[Any] | None, pad_id: int, padding_side: str
) -> dict[str, Any]:
    """1D token rows -> ``input_ids``, a 2D ``attention_mask`` and, with ``labels``, padded ``labels``."""
    import torch

    length = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), length), pad_id, dtype=sequences[0].dtype)
    attention = torch.zeros((len(sequences), length), dtype=torch.long)
    label_ids = torch.full((len(sequences), length), IGNORE_INDEX, dtype=sequences[0].dtype)
    for i, seq in enumerate(sequences):
        sl = slice(length - len(seq), length) if padding_side == "left" else slice(0, len(seq))
        input_ids[i, sl], attention[i, sl] = seq, 1
        if labels:
            label_ids[i, sl] = labels[i]
    batch = {"input_ids": input_ids, "attention_mask": attention}
    if labels is not None:
        batch["labels"] = label_ids
    return batch


def image_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The image entries of a prompt batch (``pixel_values`` and whatever else the backbone's processor
    gives): everything but the token ids and their 2D mask."""
    return {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask")}


def forward_layout(model, seqs: Sequences, keys: Layout, device, logits_to_keep: int, **kwargs):
    """One forward pass of ``seqs`` (the last queries of ``keys``) under their 4D attention mask."""
    mask = attention_mask_4d(
        allowed_attention(seqs.layout, keys), model_attn_implementation(model), model.dtype
    )
    return model(
        input_ids=seqs.input_ids.to(device),
        attention_mask=mask.to(device),
        position_ids=seqs.position_ids.to(device),
        logits_to_keep=logits_to_keep,
        **kwargs,
    )


def choose_actions(logits, spec: DecodeSpec, temperature: float = 0.0):
    """Action-token ids (relative to the action offset) from the logits over the vocabulary: the argmax, or
    with ``temperature`` > 0 a draw from the softmax of the action logits over ``temperature`` (torch's
    global generator)."""
    import torch

    actions = logits[..., spec.action_offset : spec.action_offset + spec.action_vocab]
    if temperature <= 0:
        return actions.argmax(-1)
    probs = torch.softmax(actions.float() / temperature, dim=-1)
    return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1).reshape(probs.shape[:-1])


# -- the interface ---------------------------------------------------------------------------------------
class DecodingMode:
    """How one decoding mode lays out training sequences and decodes (stateless: one instance per mode)."""

    #: The ``policy.decoding`` value.
    name: ClassVar[str] = ""
    #: Variable-length tokenizers (FAST) have no fixed number of tokens to place slots for.
    variable_length: ClassVar[bool] = False
    #: Whether the mode works without custom 4D attention masks (flash attention takes none).
    flash_attention: ClassVar[bool] = False

    def n_slot_tokens(self, tokens_per_chunk: int, block_size: int) -> int:
        """Slot tokens the mode adds to the vocabulary after the action tokens."""
        return 0

    def training_row(self, prompt: Sequence[int], targets: Sequence[int] | None, spec: DecodeSpec) -> Row:
        """The one-sequence layout of a sample (``targets``: absolute ids)."""
        raise ValueError(f"no one-sequence layout for decoding={self.name!r}")

    def training_batch(
        self, prompts: list[Any], targets: np.ndarray, spec: DecodeSpec, model, padding_side: str
    ) -> dict[str, Any]:
        """Prompt token rows (1D tensors) and absolute target ids -> the model inputs of a training batch
        (without images): ids, attention mask, positions and labels. Default: :meth:`training_row` with a
        4D mask and ``shift_labels`` (the label at a position is the token its logits must predict)."""
        rows = [
            self.training_row(p.tolist(), t.tolist(), spec) for p, t in zip(prompts, targets, strict=True)
        ]
        seqs = pad_rows(rows, spec.pad_id, padding_side)
        allowed = allowed_attention(seqs.layout, seqs.layout)
        return {
            "input_ids": seqs.input_ids,
            "attention_mask": attention_mask_4d(allowed, model_attn_implementation(model), model.dtype),
            "position_ids": seqs.position_ids,
            # transformers' causal-LM loss uses shift_labels as given (no shift); labels only switch it on
            "labels": seqs.shift_labels,
            "shift_labels": seqs.shift_labels,
        }

    def decode(
        self, model, batch: dict[str, Any], spec: DecodeSpec, temperature: float = 0.0
    ) -> list[np.ndarray]:
        """Action-token ids (relative to the action offset) for a left-padded prompt batch, under
        ``torch.inference_mode`` with the model in eval mode: greedy, or drawn at ``temperature`` > 0."""
        raise NotImplementedError


#: Registered modes by name.
DECODING_MODES_REGISTRY: dict[str, DecodingMode] = {}


def register_decoding_mode[T: type[DecodingMode]](cls: T) -> T:
    """Class decorator: make a :class:`DecodingMode` selectable as ``policy.decoding=<name>``."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} must set name to register")
    DECODING_MODES_REGISTRY[cls.name] = cls()
    return cls


def decoding_modes() -> tuple[str, ...]:
    return tuple(DECODING_MODES_REGISTRY)


def get_decoding_mode(name: str) -> DecodingMode:
    if name not in DECODING_MODES_REGISTRY:
        raise KeyError(f"unknown decoding mode {name!r}; registered: {decoding_modes()}")
    return DECODING_MODES_REGISTRY[name]


def n_slot_tokens(mode: str, tokens_per_chunk: int, block_size: int) -> int:
    return get_decoding_mode(mode).n_slot_tokens(tokens_per_chunk, block_size)


def training_row(prompt: Sequence[int], targets: Sequence[int] | None, spec: DecodeSpec) -> Row:
    """The sequence of one sample in ``spec.mode`` (parallel and blockwise; see their modules)."""
    return get_decoding_mode(spec.mode).training_row(prompt, targets, spec)


def decode_action_ids(
    model, batch: dict[str, Any], spec: DecodeSpec, temperature: float = 0.0
) -> list[np.ndarray]:
    """Action-token ids (relative to the action offset) for a left-padded prompt batch: greedy, or with
    ``temperature`` > 0 drawn token by token from the (masked) action distribution, from torch's global
    generator.

    ``batch`` holds ``input_ids``, a 2D ``attention_mask`` and the image inputs on the model's device.
    Rows end at the end token for variable-length autoregressive decoding.
    """
    import torch

    model.eval()
    with torch.inference_mode():
        return get_decoding_mode(spec.mode).decode(model, batch, spec, temperature)
