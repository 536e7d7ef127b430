import time

import pytest

from vla.data.normalize import FeatureStats, NormStats
from vla.hub import HubUnavailableError, push_folder_to_hub, resolve_pretrained


def test_local_folder_resolves_as_is(tmp_path):
    assert resolve_pretrained(tmp_path) == tmp_path


def test_missing_local_path_is_not_mistaken_for_a_repo(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        resolve_pretrained(tmp_path / "missing" / "deeper" / "path")


def test_unreachable_hub_fails_fast_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(HubUnavailableError, match="huggingface-cli download someone/not-cached"):
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
