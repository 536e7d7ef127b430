"""``blockwise``: one forward pass per block of ``block_size`` action tokens, reusing the KV cache.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vla.model.decoding.base import (
    DecodeSpec,
    DecodingMode,
    Row,
    choose_actions,
    forward_layout,
    image_inputs,
    pad_rows,
    prompt_rows,
    register_decoding_mode,
)


def blocks(n_tokens: int, block_size: int) -> list[range]:
    return [range(s, min(s + block_size, n_tokens)) for s in range(0, n_tokens, block_size)]


def _block_slots(row: Row, spec: DecodeSpec, prompt_len: int, b: int, block: range, targets=None) -> None:
    """Slots for the tokens of ``block`` after its first (which its anchor predicts)."""
    js = list(block)[1:]
    labels = None if targets is None else [int(targets[j]) for j in js]
    row.slots(
        [spec.slot_id(j) for j in js], prompt_len + block.start, b, [prompt_len + j - 1 for j in js], labels
    )


@register_decoding_mode
class Blockwise(DecodingMode):
    name = "blockwise"

    def n_slot_tokens(self, tokens_per_chunk: int, block_size: int) -> int:
        """Slot ``j`` for token ``j``; with blocks of one token no slots at all."""
        return tokens_per_chunk if block_size > 1 else 0

    def training_row(self, prompt: Sequence[int], targets: Sequence[int] | None, spec: DecodeSpec) -> Row:
        if targets is None:
            raise ValueError(f"no one-sequence layout for decoding={self.name!r} without targets")
        n, p = spec.tokens_per_chunk, len(prompt)
        row = Row().real(prompt)
        row.real(targets)
        for b, block in enumerate(blocks(n, spec.block_size)):
            row.labels[p - 1 + block.start] = int(targets[block.start])  # the anchor predicts the first token
            _block_slots(row, spec, p, b, block, targets)
        return row

    def decode(
        self, model, batch: dict[str, Any], spec: DecodeSpec, temperature: float = 0.0
    ) -> list[np.ndarray]:
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
            extra = image_inputs(batch) if previous is None else {}
            out = forward_layout(
                model, seqs, keys, device, len(block), past_key_values=cache, use_cache=True, **extra
            )
            tokens[:, block] = choose_actions(out.logits, spec, temperature).cpu()
            cache = out.past_key_values
            kept = keys.kind.shape[1] - (len(block) - 1)  # drop the slots: later blocks never see them
            cache.crop(kept)
            keys = keys.crop(kept)
            previous = block
        return list(tokens.cpu().numpy())
