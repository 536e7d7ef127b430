"""Our own checkpoints (a folder or Hub repo id holding a ``VLAPolicy``), batched in the main process."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vla.eval.policies.base import (
    BatchedPolicy,
    inference_device,
    inference_dtype,
    policy_cameras,
    register_policy,
)


@register_policy(None)  # every spec that no other policy answers to: a checkpoint folder or Hub id
class CheckpointPolicy(BatchedPolicy):
    #: Rendered at the size of the images the checkpoint was trained on (``PolicyConfig.image_size``; 256 px,
    #: the public LIBERO datasets' size, for checkpoints that predate it), so the processor resizes exactly
    #: as in training rather than feeding the model images rendered at its input size, which it never saw.
    image_size = 256
    #: Chunks drawn per observation and averaged (``vla eval --action-samples``); 1: greedy decoding.
    action_samples = 1
    sample_temperature = 1.0

    def __init__(self, path: str | Path, device: str = "auto", dtype: str = "auto") -> None:
        super().__init__()
        from vla.model.policy import VLAPolicy

        self.name = str(path)
        self.device = inference_device(device)
        self.dtype = inference_dtype(dtype, self.device)
        self.policy = VLAPolicy.from_pretrained(path, dtype=self.dtype)  # picks the attention for this dtype
        self.image_size = self.policy.config.image_size or CheckpointPolicy.image_size
        self.policy.model.to(device=self.device)
        self.cameras = policy_cameras(self.policy.config.image_keys, f"checkpoint {path}")

    def sample_actions(self, samples: int, temperature: float, seed: int) -> None:
        """Draw ``samples`` chunks per observation at ``temperature`` and execute their mean; the draws of
        the n-th ``predict`` call come from ``seed`` and n, so a rerun with the same batches repeats them."""
        self.action_samples, self.sample_temperature = samples, temperature
        self._draw_seed, self._calls = seed, 0

    def predict(self, observations):
        if self.action_samples == 1:
            chunks, valid = self.policy.predict_action_chunk(list(observations), return_valid=True)
        else:
            import torch

            cuda = [self.device] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=cuda):  # leaves the caller's generators as they were
                torch.manual_seed(self._draw_seed * 1_000_003 + self._calls)
                self._calls += 1
                chunks, valid = self.policy.predict_action_chunk(
                    list(observations),
                    return_valid=True,
                    samples=self.action_samples,
                    temperature=self.sample_temperature,
                )
        return np.asarray(chunks, dtype=np.float64), np.asarray(valid, dtype=bool)

    @classmethod
    def from_spec(cls, argument: str, *, seed: int, device: str, dtype: str) -> CheckpointPolicy:
        return cls(argument, device=device, dtype=dtype)
