"""``parallel``: the whole chunk in one forward pass.

``N = tokens_per_chunk`` learned *slot* tokens (``<action_slot_0..N-1>``, new vocabulary rows) follow the
prompt. Slots attend to the whole prompt and to each other; the prompt never attends to them. Slot ``j``
sits at position ``P + j`` (``P``: the row's prompt length) and its logits, restricted to the action
tokens, give action token ``j``. Training labels slot ``j`` with action token ``j``.
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


@register_decoding_mode
class Parallel(DecodingMode):
    name = "parallel"

    def n_slot_tokens(self, tokens_per_chunk: int, block_size: int) -> int:
        return tokens_per_chunk

    def training_row(self, prompt: Sequence[int], targets: Sequence[int] | None, spec: DecodeSpec) -> Row:
        """Prompt + N slots; ``targets`` None gives the inference input."""
        n, p = spec.tokens_per_chunk, len(prompt)
        row = Row().real(prompt)
        slots = [spec.slot_id(j) for j in range(n)]
        return row.slots(slots, p, 0, [p + j for j in range(n)], None if targets is None else list(targets))

    def decode(
        self, model, batch: dict[str, Any], spec: DecodeSpec, temperature: float = 0.0
    ) -> list[np.ndarray]:
        """One forward pass: prompt + N slots (left-padded), an action token at every slot (argmax, or a draw
        at ``temperature`` > 0)."""
        n = spec.tokens_per_chunk
        rows = [self.training_row(p, None, spec) for p in prompt_rows(batch)]
        seqs = pad_rows(rows, spec.pad_id, "left")
        device = batch["input_ids"].device
        out = forward_layout(model, seqs, seqs.layout, device, n, use_cache=False, **image_inputs(batch))
        return list(choose_actions(out.logits, spec, temperature).cpu().numpy())
