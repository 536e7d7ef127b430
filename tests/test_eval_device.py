"""Where and in which precision evaluation runs a learned policy (``--device``, ``--dtype``)."""

import numpy as np
import pytest
import torch

from vla.config import ConfigError
from vla.eval.config import EvalConfig
from vla.eval.policies import CheckpointPolicy, inference_device, inference_dtype
from vla.model.decoding import model_attn_implementation
from vla.model.policy import choose_attn_implementation


def _observations(n: int) -> list[dict]:
    rng = np.random.default_rng(1)
    return [
        {
            "image": rng.integers(0, 255, (256, 256, 3), dtype=np.uint8),
            "wrist_image": rng.integers(0, 255, (256, 256, 3), dtype=np.uint8),
            "state": np.zeros(8),
            "task": "pick up the alphabet soup and place it in the basket",
        }
        for _ in range(n)
    ]


@pytest.mark.parametrize(("field", "value"), [("device", "gpu0"), ("device", "cuda:x"), ("dtype", "fp8")])
def test_bad_device_or_dtype_is_named(field, value):
    with pytest.raises(ConfigError, match=f"{field}={value!r}"):
        EvalConfig(**{field: value})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_says_so():
    with pytest.raises(ConfigError, match="CUDA is not available here; use 'cpu' or 'auto'"):
        inference_device("cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto picks the GPU where there is one")
def test_auto_is_the_cpu_in_float32_without_a_gpu():
    device = inference_device("auto")
    assert device == torch.device("cpu") and inference_dtype("auto", device) == torch.float32


def test_checkpoint_evaluated_in_bfloat16_acts_like_float32(tmp_path, tiny_policy):
    policy, _ = tiny_policy
    policy.save_pretrained(tmp_path / "checkpoint")
    observations = _observations(2)
    full = CheckpointPolicy(tmp_path / "checkpoint", device="cpu", dtype="float32")
    half = CheckpointPolicy(tmp_path / "checkpoint", device="cpu", dtype="bfloat16")
    assert {p.dtype for p in half.policy.model.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in full.policy.model.parameters()} == {torch.float32}
    # without CUDA auto is SDPA here (eager only for training under bf16 autocast); half weights need SDPA
    assert model_attn_implementation(full.policy.model) == choose_attn_implementation("auto")
    assert model_attn_implementation(half.policy.model) == "sdpa"
    chunks_full, valid_full = full.predict(observations)
    chunks_half, valid_half = half.predict(observations)
    assert chunks_full.shape == chunks_half.shape == (2, 4, 7) and valid_full.all() and valid_half.all()
    # bfloat16 rounding may flip a near-tie between two bins; here (measured) every action agrees
    assert np.isclose(chunks_half, chunks_full).mean() >= 0.9
