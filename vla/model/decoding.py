"""Decoding modes: how the action tokens of a chunk come out of the VLM.

``autoregressive``
    One token per forward pass (``model.generate`` with a logits mask that allows action tokens only).
``parallel``
    ``N = tokens_per_chunk`` learned *slot* tokens (``<action_slot_0..N-1>``, new vocabulary rows) follow
    the prompt. Slots attend to the whole prompt and to each other; the prompt never attends to them. Slot
    ``j`` sits at position ``P + j`` (``P``: the row's prompt length) and its logits, restricted to the
    action tokens, give action token ``j``: the whole chunk in one forward pass.
``blockwise``
    The tokens are cut into blocks of ``block_size`` (the last one may be shorter). Block ``b`` starting at
    token ``s`` is predicted in one forward pass by its *anchor*, the last real token before it (the last
    prompt token, or action token ``s - 1``), through the usual next-token shift, and by slot tokens
    ``<action_slot_j>`` for its other tokens ``j = s+1 .. s+block_size-1``. Slot ``j`` stands where token
    ``j - 1`` would stand in an autoregressive sequence (position ``P + j - 1``). Slots of block ``b`` see
    the prompt, every real token up to the anchor, and each other (bidirectional inside the block), never a
    later block. Real tokens (prompt and action tokens) attend causally to real tokens only, so their keys
    and values never depend on a slot: at inference the KV cache of the prompt and of earlier blocks is
    reused and the slots' entries are cropped off after each pass. Training puts all of it in one
    sequence: ``prompt, a_0 .. a_{N-1} (teacher forcing), slots of every block``.

    **Equality**: with ``block_size=1`` there are no slots; every block is its anchor's next-token
    prediction from the real tokens before it with a causal mask, i.e. exactly the autoregressive
    computation (same positions, same visible tokens), so the same weights give the same tokens (up to
    floating-point differences between attention kernels, which only matter for near-ties). The training
    loss differs only by the end token, which autoregressive training also labels.

Masks are custom 4D attention masks ``(batch, 1, query, key)`` passed as ``attention_mask``: transformers'
mask creation (``masking_utils``) returns a 4D mask as it is, and SmolVLM merges the image features into
the embeddings at the image-token positions before the text model sees the mask. They are boolean for
SDPA and additive float for eager attention; flash-attention cannot take them (``PolicyConfig`` refuses
``attn_implementation=flash_attention_2`` with these modes and ``auto`` picks SDPA). Padding (left at
inference, right in training) is a role of its own: no query sees a padding key, and a padding query sees
only itself (so that no row of the mask is empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DECODING_MODES = ("autoregressive", "parallel", "blockwise")
IGNORE_INDEX = -100

#: Position roles in a layout.
PAD, REAL, SLOT = 0, 1, 2


def slot_token_strings(n: int) -> list[str]:
    return [f"<action_slot_{i}>" for i in range(n)]


def n_slot_tokens(mode: str, tokens_per_chunk: int, block_size: int) -> int:
    """Slot tokens a mode adds to the vocabulary (blockwise uses slot ``j`` for token ``j``; with blocks
    of one token it needs none)."""
    if mode == "parallel" or (mode == "blockwise" and block_size > 1):
        return tokens_per_chunk
    return 0


def blocks(n_tokens: int, block_size: int) -> list[range]:
    return [range(s, min(s + block_size, n_tokens)) for s in range(0, n_tokens, block_size)]


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

    def slot_id(self, j: int) -> int:
        return self.slot_offset + j


class ActionTokenMask:
    """Logits processor: only action tokens (ids ``[offset, offset + n)``) may be generated, plus the end
    token when ``end_token_id`` is given (variable-length tokenizers)."""

    def __init__(self, offset: int, n: int, end_token_id: int | None = None) -> None:
        self.offset, self.n, self.end_token_id = offset, n, end_token_id

    def __call__(self, input_ids, scores):
        import torch

        masked = torch.full_like(scores, float("-inf"))
        masked[:, self.offset : self.offset + self.n] = scores[:, self.offset : self.offset + self.n]
        if self.end_token_id is not None:
            masked[:, self.end_token_id] = scores[:, self.end_token_id]
        return masked


class ExactLengthMask:
    """Logits processor for tokens of variable length (FAST's BPE pieces): an action token is allowed only
    if it fits in the values the row still needs, and the end token only (and then alone) once the row
    holds exactly ``values_per_chunk`` values. Every finished row then decodes without truncation or
    padding; without it, a sequence one coefficient short or long shifts every later coefficient onto the
    wrong action dimension."""

    def __init__(self, spec: DecodeSpec, prompt_length: int) -> None:
        import torch

        if spec.token_lengths is None or spec.end_token_id is None:
            raise ValueError("ExactLengthMask needs the spec's token_lengths and end token")
        self.spec, self.prompt_length = spec, prompt_length
        self.lengths = torch.as_tensor(spec.token_lengths, dtype=torch.long)

    def __call__(self, input_ids, scores):
        import torch

        spec = self.spec
        lengths = self.lengths.to(scores.device)
        generated = input_ids[:, self.prompt_length :] - spec.action_offset
        is_action = (generated >= 0) & (generated < spec.action_vocab)
        used = (lengths[generated.clamp(0, spec.action_vocab - 1)] * is_action).sum(1)
        remaining = spec.values_per_chunk - used  # (batch,)
        masked = torch.full_like(scores, float("-inf"))
        actions = scores[:, spec.action_offset : spec.action_offset + spec.action_vocab]
        fits = lengths[None, :] <= remaining[:, None]
        masked[:, spec.action_offset : spec.action_offset + spec.action_vocab] = torch.where(
            fits, actions, torch.full_like(actions, float("-inf"))
        )
        done = remaining <= 0
        masked[done] = float("-inf")
        masked[done, spec.end_token_id] = 0.0
        return masked


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


def _block_slots(row: Row, spec: DecodeSpec, prompt_len: int, b: int, block: range, targets=None) -> None:
    """Slots for the tokens of ``block`` after its first (which its anchor predicts)."""
    js = list(block)[1:]
    labels = None if targets is None else [int(targets[j]) for j in js]
    row.slots(
        [spec.slot_id(j) for j in js], prompt_len + block.start, b, [prompt_len + j - 1 for j in js], labels
    )


def training_row(prompt: Sequence[int], targets: Sequence[int] | None, spec: DecodeSpec) -> Row:
    """The sequence of one sample in a parallel or blockwise mode (``targets``: absolute ids, or None for
    the parallel inference input). See the module docstring for the layout."""
    n, p = spec.tokens_per_chunk, len(prompt)
    row = Row().real(prompt)
    if spec.mode == "parallel":
        slots = [spec.slot_id(j) for j in range(n)]
        return row.slots(slots, p, 0, [p + j for j in range(n)], None if targets is None else list(targets))
    if spec.mode != "blockwise" or targets is None:
        raise ValueError(f"no one-sequence layout for decoding={spec.mode!r} without targets")
    row.real(targets)
    for b, block in enumerate(blocks(n, spec.block_size)):
        row.labels[p - 1 + block.start] = int(targets[block.start])  # the anchor predicts the first token
        _block_slots(row, spec, p, b, block, targets)
    return row


def prompt_rows(batch: dict[str, Any]) -> list[list[int]]:
    """Un-pad the prompts of a (left- or right-padded) prompt batch."""
    ids, mask = batch["input_ids"].cpu(), batch["attention_mask"].cpu().bool()
    return [ids[i][mask[i]].tolist() for i in range(ids.shape[0])]


# -- decoding ------------------------------------------------------------------------------------------
def decode_action_ids(model, batch: dict[str, Any], spec: DecodeSpec) -> list[np.ndarray]:
    """Greedy action-token ids (relative to the action offset) for a left-padded prompt batch.

    ``batch`` holds ``input_ids``, a 2D ``attention_mask``, ``pixel_values`` (and ``pixel_attention_mask``)
    on the model's device. Rows end at the end token for variable-length autoregressive decoding.
    """
    import torch

    model.eval()
    with torch.inference_mode():
        if spec.mode == "autoregressive":
            return _decode_autoregressive(model, batch, spec)
        if spec.mode == "parallel":
            ids = _decode_parallel(model, batch, spec)
        else:
            ids = _decode_blockwise(model, batch, spec)
    return list(ids.cpu().numpy())


def _decode_autoregressive(model, batch: dict[str, Any], spec: DecodeSpec) -> list[np.ndarray]:
    from transformers import LogitsProcessorList

    n, variable = spec.tokens_per_chunk, spec.end_token_id is not None
    if variable and spec.token_lengths is not None:
        mask = ExactLengthMask(spec, prompt_length=batch["input_ids"].shape[1])
        n = max(n, spec.values_per_chunk + 1)  # room for the shortest pieces and the end token
    else:
        mask = ActionTokenMask(spec.action_offset, spec.action_vocab, spec.end_token_id)
    out = model.generate(
        **batch,
        max_new_tokens=n,
        min_new_tokens=1 if variable else n,
        do_sample=False,
        logits_processor=LogitsProcessorList([mask]),
        pad_token_id=spec.pad_id,
        eos_token_id=spec.end_token_id,
    )
    rows = []
    for row in out[:, batch["input_ids"].shape[1] :].cpu().numpy():
        stop = np.flatnonzero(row == spec.end_token_id) if variable else []
        rows.append((row[: stop[0]] if len(stop) else row) - spec.action_offset)
    return rows


def _pixel_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: batch[k] for k in ("pixel_values", "pixel_attention_mask") if k in batch}


def _forward(model, seqs: Sequences, keys: Layout, device, logits_to_keep: int, **kwargs):
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


def _argmax_actions(logits, spec: DecodeSpec):
    return logits[..., spec.action_offset : spec.action_offset + spec.action_vocab].argmax(-1)


def _decode_parallel(model, batch: dict[str, Any], spec: DecodeSpec):
    """One forward pass: prompt + N slots (left-padded), argmax over the action tokens at every slot."""
    n = spec.tokens_per_chunk
    seqs = pad_rows([training_row(p, None, spec) for p in prompt_rows(batch)], spec.pad_id, "left")
    device = batch["input_ids"].device
    out = _forward(model, seqs, seqs.layout, device, n, use_cache=False, **_pixel_inputs(batch))
    return _argmax_actions(out.logits, spec)


def _decode_blockwise(model, batch: dict[str, Any], spec: DecodeSpec):
    """One forward pass per block; the cache keeps the prompt and the real tokens, never the slots."""
    import torch

    prompts = prompt_rows(batch)
    lengths = [len(p) for p in prompts]
    device = batch["input_ids"].device
    tokens = torch.zeros((len(prompts), spec.tokens_per_chunk), dtype=torch.long)
    keys, cache, previous = None, None, None
    for b, block in enumerate(blocks(spec.tokens_per_chunk, spec.block_size)):
        rows = []
        for i, p in enumerate(prompts):
            if previous is None:  # first pass: the prompt (left-padded), then the first block's slots
                row = Row().real(p)
            else:  # later passes: the previous block's tokens, then this block's slots
                row = Row(first_order=lengths[i] + previous.start).real(
                    (tokens[i, previous] + spec.action_offset).tolist()
                )
            _block_slots(row, spec, lengths[i], b, block)
            rows.append(row)
        seqs = pad_rows(rows, spec.pad_id, "left")
        keys = seqs.layout if keys is None else keys.cat(seqs.layout)
        extra = _pixel_inputs(batch) if previous is None else {}
        out = _forward(model, seqs, keys, device, len(block), past_key_values=cache, use_cache=True, **extra)
        tokens[:, block] = _argmax_actions(out.logits, spec).cpu()
        cache = out.past_key_values
        kept = keys.kind.shape[1] - (len(block) - 1)  # drop the slots: later blocks never see them
        cache.crop(kept)
        keys = keys.crop(kept)
        previous = block
    return tokens
