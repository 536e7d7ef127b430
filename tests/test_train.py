import json

import numpy as np
import pytest

from vla.config import ConfigError, load_config
from vla.data.dataset import load_chunked_dataset
from vla.train.config import TrainConfig
from vla.train.trainer import train

RECIPE = "recipes/tiny_cpu.yaml"


def config_for(dataset, out, *overrides):
    return load_config(
        TrainConfig,
        RECIPE,
        [f"data.dataset={dataset}", f"training.output_dir={out}", "policy.horizon=4", "training.batch_size=2",
         "tokenizer.options.n_bins=32", *overrides],
    )  # fmt: skip


#: The tiny recipe's loss at steps 1, 8 and 24 of the run below, per backbone family (torchtune's habit: a
#: change to the model, the data order, the tokenizer or the optimizer shows up here). Measured on CPU.
PINNED_LOSSES = {
    "tiny": (6.207683, 4.769649, 3.497618),
    "tiny-llava": (6.22045, 4.803031, 3.488739),
}


def test_bf16_autocast_training_picks_its_attention_and_records_both(synthetic_dataset, tmp_path):
    """Under bf16 autocast on a CPU auto attention is eager (1.15x there), in float32 SDPA (the test above)."""
    import torch

    from vla.model.policy import choose_attn_implementation

    last = train(
        config_for(synthetic_dataset, tmp_path / "run", "training.steps=2", "training.mixed_precision=bf16")
    )
    state = json.loads((last / "trainer_state.json").read_text())
    assert state["mixed_precision"] == "bf16"
    assert state["attn_implementation"] == choose_attn_implementation("auto", autocast_dtype=torch.bfloat16)
    if not torch.cuda.is_available():
        assert state["attn_implementation"] == "eager"


@pytest.mark.parametrize("base_model", list(PINNED_LOSSES))
def test_training_lowers_the_action_loss_and_writes_self_contained_checkpoints(
    synthetic_dataset, tmp_path, base_model
):
    from vla.model.policy import VLAPolicy, choose_attn_implementation

    out = tmp_path / "run"
    last = train(config_for(synthetic_dataset, out, "training.steps=24", "training.save_every=8",
                            "training.keep_last=2", "training.lr=3e-3", f"policy.base_model={base_model}"))  # fmt: skip
    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 24
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4]), losses
    pinned = PINNED_LOSSES[base_model]
    assert (losses[0], losses[7], losses[23]) == pytest.approx(pinned, rel=1e-3), losses
    ckpts = sorted(p.name for p in (out / "checkpoints").glob("step-*"))
    assert ckpts == ["step-000016", "step-000024"]  # keep_last=2, step-000008 deleted
    assert (out / "checkpoints" / "last").resolve() == last.resolve()
    assert not list((out / "checkpoints").glob(".tmp-*"))
    for name in ("model.safetensors", "norm_stats.json", "action_tokenizer/action_tokenizer.json",
                 "processor_config.json", "train_config.json", "README.md", "training_state"):  # fmt: skip
        assert (last / name).exists(), name
    assert json.loads((last / "train_config.json").read_text())["training"]["steps"] == 24
    trainer_state = json.loads((last / "trainer_state.json").read_text())
    # float32 training: SDPA on a CPU
    assert trainer_state["attn_implementation"] == choose_attn_implementation("auto")
    assert trainer_state["mixed_precision"] == "no"
    source = trainer_state["dataset"]
    info = json.loads((synthetic_dataset / "meta/info.json").read_text())
    assert source == {"dataset": str(synthetic_dataset), "revision": None,  # a local folder has no revision
                      "episodes": info["total_episodes"], "frames": info["total_frames"]}  # fmt: skip
    policy = VLAPolicy.from_pretrained(out / "checkpoints" / "last")
    assert policy.action_tokenizer.vocab_size == 32
    assert policy.config.base_model == base_model and policy.config.horizon == 4
    chunk = policy.predict_action_chunk(dict(load_chunked_dataset(synthetic_dataset, 4)[3]))  # rolls out
    assert chunk.shape == (4, 7) and np.isfinite(chunk).all()


def test_a_recipe_key_that_moved_fails_in_one_line_naming_the_new_key(synthetic_dataset, tmp_path):
    with pytest.raises(ConfigError) as err:
        config_for(synthetic_dataset, tmp_path, "data.horizon=4")
    assert str(err.value) == "data.horizon is no longer a config key: set policy.horizon instead"


def test_recipe_typos_fail_before_training(synthetic_dataset, tmp_path):
    with pytest.raises(ConfigError, match="training.stepz"):
        config_for(synthetic_dataset, tmp_path, "training.stepz=3")
    with pytest.raises(ConfigError, match="training.batch_size=0 is invalid"):
        config_for(synthetic_dataset, tmp_path, "training.batch_size=0")


def test_the_optimizer_is_torchs_fused_adamw_on_cpu():
    """One fused kernel for every tensor (bench/train_step_parts.py: 3.3x faster per step on CPU)."""
    import torch

    from vla.train.trainer import adamw

    params = [torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.zeros(2, 2))]
    optimizer = adamw(params, lr=1e-3, weight_decay=0.0)
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["fused"] is True
