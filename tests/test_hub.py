import time

import pytest

from vla.hub import HubUnavailableError, push_folder_to_hub, resolve_pretrained
from vla.tokenizers.normalize import FeatureStats, NormStats


def test_local_folder_resolves_as_is(tmp_path):
    assert resolve_pretrained(tmp_path) == tmp_path


def test_missing_local_path_is_not_mistaken_for_a_repo(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        resolve_pretrained(tmp_path / "missing" / "deeper" / "path")


def test_unreachable_hub_fails_fast_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(HubUnavailableError, match="hf download someone/not-cached"):
        NormStats.from_pretrained("someone/not-cached")
    assert time.perf_counter() - start < 10


def test_push_without_network_keeps_the_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: refused at once
    monkeypatch.setenv("HF_TOKEN", "hf_dummy")
    stats = NormStats({"actions": FeatureStats.from_array([[0.0], [1.0]])})
    staged = tmp_path / "staged"
    with pytest.raises(HubUnavailableError, match="folder is kept"):
        stats.push_to_hub("someone/repo", staging_dir=staged)
    assert (staged / "norm_stats.json").is_file()
    with pytest.raises(HubUnavailableError, match="vla push"):
        push_folder_to_hub(staged, "someone/repo")


def test_tokenizer_push_stages_a_model_card_with_the_report_and_keeps_it_offline(monkeypatch, tmp_path):
    import json
    import subprocess
    import sys

    import numpy as np

    from vla.tokenizers import AutoActionTokenizer, BinningActionTokenizer
    from vla.tokenizers.diagnostics import report, synthetic_chunks

    chunks, shifted = synthetic_chunks(n_episodes=4, length=20)
    tokenizer = BinningActionTokenizer(horizon=8, n_bins=16).fit(chunks)
    tokenizer.save_pretrained(tmp_path / "tok")
    entry = {
        "path": "tok",
        **report(tokenizer, chunks, shifted, np.repeat([0, 1], 40), np.repeat(range(4), 20)),
    }
    (tmp_path / "report.json").write_text(json.dumps({"dataset": "synthetic", "reports": [entry]}))
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": "hf_dummy", "PATH": "/usr/bin:/bin"}
    staged = tmp_path / "staged"
    cmd = [sys.executable, "-m", "vla.cli", "tokenizer", "push", str(tmp_path / "tok"), "--repo-id", "me/tok",
           "--results", str(tmp_path / "report.json"), "--staging-dir", str(staged)]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode != 0 and "folder is kept" in run.stderr + run.stdout
    card = (staged / "README.md").read_text()
    assert "# binning action tokenizer" in card and "56 tokens from a vocabulary of 16" in card
    assert "| 56.0 / 56 |" in card and "task MI" in card and '"n_bins": 16' in card
    assert np.array_equal(
        AutoActionTokenizer.from_pretrained(staged).encode(chunks), tokenizer.encode(chunks)
    )


def test_policy_card_metadata_names_hub_ids_only_and_indexes_results(tmp_path):
    from huggingface_hub import ModelCard

    from vla.hub.card import policy_card_metadata, write_policy_card
    from vla.model.backbones import hub_repo_id

    results = {"per_suite": {"libero_object": {"success_rate": 0.955, "episodes": 500}}}
    config = {
        "policy": {"base_model": "smolvlm2-2.2b"},
        "data": {"dataset": "HuggingFaceVLA/libero"},
        "training": {"push_to_hub": "me/smolvla-libero"},
    }
    meta = policy_card_metadata(config, results, hub_id=hub_repo_id)
    assert meta.base_model == "HuggingFaceTB/SmolVLM2-2.2B-Instruct"  # the preset's Hub id
    assert meta.datasets == ["HuggingFaceVLA/libero"] and meta.license == "apache-2.0"
    assert meta.pipeline_tag == "robotics" and "vision-language-action" in meta.tags
    [result] = meta.eval_results
    assert (result.dataset_config, result.metric_value, meta.model_name) == (
        "libero_object",
        95.5,
        "smolvla-libero",
    )

    # local folders (a dataset, a base model in the cache) never reach the card
    local = {"policy": {"base_model": str(tmp_path)}, "data": {"dataset": str(tmp_path)}}
    meta = policy_card_metadata(local, hub_id=hub_repo_id)
    assert meta.base_model is None and meta.datasets is None and meta.eval_results is None
    # without the presets' table (vla.hub knows no model), only names that are Hub ids reach the card
    meta = policy_card_metadata(config)
    assert meta.base_model is None and meta.datasets == ["HuggingFaceVLA/libero"]

    # the written card parses back with the Hub's own reader
    card = ModelCard.load(write_policy_card(tmp_path, config, eval_results=results, hub_id=hub_repo_id))
    assert card.data.base_model == "HuggingFaceTB/SmolVLM2-2.2B-Instruct"
    assert card.data.eval_results[0].metric_value == 95.5


def test_a_policy_evaluated_from_the_hub_records_its_revision_and_weights(monkeypatch, tmp_path):
    import huggingface_hub.constants

    from vla.eval.results import policy_identity

    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--policy"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(b"weights")
    (snapshot / "vla_policy.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    identity = policy_identity("someone/policy")
    assert identity["hub_revision"] == revision and identity["path"] == str(snapshot.resolve())
    assert identity["sha256"] == "9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c"
    assert policy_identity("lerobot:someone/policy")["hub_revision"] == revision
    assert policy_identity("random") == {"spec": "random"}


def test_a_dataset_read_from_the_hub_cache_names_the_revision_it_was_read_at(
    monkeypatch, tmp_path, synthetic_dataset
):
    import shutil

    import huggingface_hub.constants

    from vla.data.dataset import load_chunked_dataset

    revision = "89abcdef0123456789abcdef0123456789abcdef"
    repo = tmp_path / "hub" / "datasets--someone--libero"
    shutil.copytree(synthetic_dataset, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = load_chunked_dataset("someone/libero", 4).source
    assert source["dataset"] == "someone/libero" and source["revision"] == revision
    assert source["episodes"] == load_chunked_dataset(synthetic_dataset, 4).source["episodes"] > 0
