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

    def __init__(self, path: str | Path, device: str = "auto", dtype: str = "auto") -> None:
        super().__init__()
        from vla.model.policy import VLAPolicy

        self.name = str(path)
        self.device = inference_device(device)
        self.dtype = inference_dtype(dtype, self.device)
        self.policy = VLAPolicy.from_pretrained(path)
        self.image_size = self.policy.config.image_size or CheckpointPolicy.image_size
        self.policy.model.to(device=self.device, dtype=self.dtype)
        self.cameras = policy_cameras(self.policy.config.image_keys, f"checkpoint {path}")

    def predict(self, observations):
        chunks, valid = self.policy.predict_action_chunk(list(observations), return_valid=True)
        return np.asarray(chunks, dtype=np.float64), np.asarray(valid, dtype=bool)

    @classmethod
    def from_spec(cls, argument: str, *, seed: int, device: str, dtype: str) -> CheckpointPolicy:
        return cls(argument, device=device, dtype=dtype)
