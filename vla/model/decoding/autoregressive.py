"""``autoregressive``: one action token per forward pass.

Training: ``prompt, a_0 .. a_{N-1}, end token`` with a causal mask; the action tokens and the end token are
the only labelled positions (variable-length rows drop the tokenizer's padding). Inference:
``model.generate`` with a logits mask that allows action tokens only (plus the end token for
variable-length tokenizers, or the exact-length mask, see ``ExactLengthMask``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vla.model.decoding.base import (
    IGNORE_INDEX,
    DecodeSpec,
    DecodingMode,
    pad_sequences,
    register_decoding_mode,
)


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


@register_decoding_mode
class Autoregressive(DecodingMode):
    name = "autoregressive"
    variable_length = True
    flash_attention = True

    def training_batch(
        self, prompts: list[Any], targets: np.ndarray, spec: DecodeSpec, model, padding_side: str
    ) -> dict[str, Any]:
        import torch

        sequences, labels = [], []
        for prompt, row in zip(prompts, targets, strict=True):
            tokens = row[row >= spec.action_offset]  # drops PAD_ID of variable-length rows
            answer = torch.as_tensor(np.append(tokens, spec.eos_id), dtype=prompt.dtype)
            sequences.append(torch.cat([prompt, answer]))
            labels.append(torch.cat([torch.full_like(prompt, IGNORE_INDEX), answer]))
        return pad_sequences(sequences, labels, spec.pad_id, padding_side)

    def decode(
        self, model, batch: dict[str, Any], spec: DecodeSpec, temperature: float = 0.0
    ) -> list[np.ndarray]:
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
            # a draw from the whole masked distribution: no top-k/top-p from the model's generation config
            **(
                {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
                if temperature > 0
                else {"do_sample": False}
            ),
            logits_processor=LogitsProcessorList([mask]),
            pad_token_id=spec.pad_id,
            eos_token_id=spec.end_token_id,
        )
        rows = []
        for row in out[:, batch["input_ids"].shape[1] :].cpu().numpy():
            stop = np.flatnonzero(row == spec.end_token_id) if variable else []
            rows.append((row[: stop[0]] if len(stop) else row) - spec.action_offset)
        return rows
