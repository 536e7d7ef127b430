"""An exponential moving average of the trainable weights (``training.ema_decay``).

Checkpoints save the average as the policy (what evaluation and the Hub get); the raw weights stay in the
checkpoint's accelerate state, next to the average, so a resumed run continues both exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class WeightEMA:
    """fp32 shadow copies of the trainable parameters, updated after every optimizer step.

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates (as diffusers' EMAModel does),
    so the randomly initialised weights of the first steps fade out quickly instead of weighing
    ``decay ** steps`` at the end. ``state_dict``/``load_state_dict`` make it an object accelerate saves and
    restores with the run (``Accelerator.register_for_checkpointing``).
    """

    def __init__(self, model, decay: float) -> None:
        trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self.decay = decay
        self.updates = 0
        self.names = [name for name, _ in trainable]
        self._params = [p for _, p in trainable]
        self.shadow = [p.detach().float().clone() for p in self._params]

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    def update(self) -> None:
        import torch

        with torch.no_grad():
            current = [p.detach().to(s.dtype) for p, s in zip(self._params, self.shadow, strict=True)]
            torch._foreach_lerp_(self.shadow, current, 1.0 - self.current_decay())
        self.updates += 1

    @contextmanager
    def averaged_weights(self) -> Iterator[None]:
        """The model holds the averaged weights inside the block (tied weights follow), its own after."""
        import torch

        raw = [p.data for p in self._params]
        with torch.no_grad():
            for p, s in zip(self._params, self.shadow, strict=True):
                p.data = s.to(p.dtype)
        try:
            yield
        finally:
            for p, data in zip(self._params, raw, strict=True):
                p.data = data

    def state_dict(self) -> dict[str, Any]:
        return {
            "decay": self.decay,
            "updates": self.updates,
            "shadow": dict(zip(self.names, self.shadow, strict=True)),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = sorted(set(self.names) - set(state["shadow"]))
        if missing:
            raise ValueError(f"the saved weight average lacks {len(missing)} parameter(s), e.g. {missing[0]}")
        self.updates = int(state["updates"])
        for i, name in enumerate(self.names):
            self.shadow[i].copy_(state["shadow"][name])
