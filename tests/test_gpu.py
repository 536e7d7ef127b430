"""The CUDA path of the model, decoding modes and evaluation (``make test-gpu`` on a GPU machine).

Skipped without a GPU. Needs no dataset and no LIBERO: the tiny SmolVLM with a binning tokenizer fitted on
random chunks, so it also runs on a bare GPU machine with only torch, transformers and peft.
"""

import numpy as np
import pytest
import torch

from vla.model.decoding import DECODING_MODES

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
INSTRUCTION = "pick up the alphabet soup and place it in the basket"


def _policy(decoding: str = "autoregressive"):
    from vla.model.policy import PolicyConfig, VLAPolicy
    from vla.tokenizers import BinningActionTokenizer
    from vla.tokenizers.normalize import NormStats

    chunks = np.random.default_rng(0).uniform(-1, 1, (64, 4, 7))
    tokenizer = BinningActionTokenizer(horizon=4, action_dim=7, n_bins=64).fit(chunks)
    config = PolicyConfig(horizon=4, decoding=decoding, attn_implementation="sdpa")
    return VLAPolicy.from_base(config, tokenizer, NormStats({}))


def _samples(n: int, with_actions: bool = False) -> list[dict]:
    rng = np.random.default_rng(1)
    samples = []
    for _ in range(n):
        sample = {
            "image": rng.integers(0, 255, (256, 256, 3), dtype=np.uint8),
            "wrist_image": rng.integers(0, 255, (256, 256, 3), dtype=np.uint8),
            "task": INSTRUCTION,
        }
        if with_actions:
            sample["actions"] = rng.uniform(-1, 1, (4, 7))
        samples.append(sample)
    return samples


@pytest.mark.parametrize("decoding", DECODING_MODES)
def test_each_decoding_mode_acts_on_the_gpu_as_on_the_cpu(decoding):
    policy = _policy(decoding)
    observations = _samples(3)
    on_cpu = policy.predict_action_chunk(observations)
    policy.model.to("cuda")
    on_gpu, valid = policy.predict_action_chunk(observations, return_valid=True)
    assert valid.all() and np.allclose(on_gpu, on_cpu)
    policy.model.to(torch.bfloat16)
    in_bf16, valid = policy.predict_action_chunk(observations, return_valid=True)
    assert valid.all() and in_bf16.shape == on_cpu.shape == (3, 4, 7)


@pytest.mark.parametrize("decoding", DECODING_MODES)
def test_a_bf16_mixed_precision_training_step_on_the_gpu(decoding):
    policy = _policy(decoding)
    policy.model.to("cuda").train()
    batch = {k: v.to("cuda") for k, v in policy.collate(_samples(2, with_actions=True)).items()}
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = policy.loss(batch)
    loss.backward()
    rows = policy.model.get_input_embeddings().weight.grad[policy.action_token_offset :]
    assert torch.isfinite(loss) and loss.item() > 0 and rows.abs().sum() > 0


def test_evaluation_puts_a_checkpoint_on_this_process_gpu_in_bf16(tmp_path):
    from vla.eval.policies import CheckpointPolicy

    _policy().save_pretrained(tmp_path / "checkpoint")
    policy = CheckpointPolicy(tmp_path / "checkpoint")  # device and dtype "auto"
    assert policy.device == torch.device("cuda", 0) and policy.dtype == torch.bfloat16
    assert next(policy.policy.model.parameters()).device == policy.device
    chunks, valid = policy.predict(_samples(4))
    assert chunks.shape == (4, 4, 7) and valid.all()


def test_actioncodec_fits_on_the_gpu_and_reloads_on_the_cpu(tmp_path):
    from vla.tokenizers import ActionCodecTokenizer, AutoActionTokenizer

    rng = np.random.default_rng(0)
    chunks = np.cumsum(rng.normal(0, 0.05, (512, 9, 7)), axis=1)
    chunks[..., -1] = np.sign(chunks[..., -1])
    small = dict(horizon=8, num_tokens=4, codebook_size=32, dim=32, depth=1, heads=2, latent_dim=16,
                 steps=30, batch_size=64, warmup_steps=2, rvq_stages=1)  # fmt: skip
    tokenizer = ActionCodecTokenizer(device="cuda", **small).fit(chunks[:, :8], chunks[:, 1:])
    assert next(tokenizer.net.parameters()).is_cuda
    ids = tokenizer.encode(chunks[:64, :8])
    tokenizer.save_pretrained(tmp_path / "codec")
    on_cpu = AutoActionTokenizer.from_pretrained(
        tmp_path / "codec"
    )  # loads on the CPU wherever it was fitted
    assert on_cpu.config.device == "cpu" and not next(on_cpu.net.parameters()).is_cuda
    decoded = tokenizer.decode(ids)
    assert ids.shape == (64, 8) and decoded.valid.all() and np.isfinite(decoded.actions).all()
    assert (on_cpu.encode(chunks[:64, :8]) == ids).mean() > 0.95
    np.testing.assert_allclose(on_cpu.decode(ids).actions, decoded.actions, atol=1e-4)
