"""The LIBERO ActionCodec that ships with vla: loadable by name from a fresh clone, small, and the default
of the paper recipes."""

from pathlib import Path

import numpy as np
import yaml

from vla.tokenizers import ActionCodecTokenizer, AutoActionTokenizer
from vla.tokenizers.base import SHIPPED_TOKENIZERS

ROOT = Path(__file__).resolve().parents[1]


def test_actioncodec_libero_loads_by_name_and_round_trips_1_s_chunks():
    tokenizer = AutoActionTokenizer.from_pretrained("actioncodec-libero")
    assert isinstance(tokenizer, ActionCodecTokenizer) and tokenizer.config.device == "cpu"
    assert (tokenizer.horizon, tokenizer.action_dim, tokenizer.tokens_per_chunk, tokenizer.vocab_size) == (
        20, 7, 16, 2048,
    )  # fmt: skip
    # a smooth reach with the gripper closing half-way: LIBERO-like, in physical units
    t = np.linspace(0, 1, 20)[:, None]
    chunk = np.concatenate(
        [0.4 * np.sin(np.pi * t) * [1, -0.5, 0.3], np.zeros((20, 3)), np.where(t < 0.5, -1, 1)], 1
    )
    ids = tokenizer.encode(chunk[None])
    decoded = tokenizer.decode(ids)
    assert ids.shape == (1, 16) and decoded.valid.all() and np.isfinite(decoded.actions).all()
    assert np.abs(decoded.actions - chunk).mean() < 0.2


def test_the_shipped_folder_is_small_tracked_and_documented():
    folder = SHIPPED_TOKENIZERS["actioncodec-libero"]
    files = {f.name: f.stat().st_size for f in folder.iterdir()}
    assert sum(files.values()) < 5 * 2**20
    assert {"action_tokenizer.json", "actioncodec.safetensors", "README.md", "fit_report.json"} <= set(files)
    card = (folder / "README.md").read_text()
    assert "scripts/actioncodec_libero.py fit" in card and "vla data generate" in card


def test_the_paper_recipes_use_it():
    for recipe in ("libero_smolvlm2.yaml", "libero_smolvlm2_lora.yaml"):
        config = yaml.safe_load((ROOT / "recipes" / recipe).read_text())
        assert config["tokenizer"]["pretrained"] == "actioncodec-libero" and config["policy"]["horizon"] == 20
