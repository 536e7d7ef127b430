import numpy as np
import pytest

from vla.data.dataset import DatasetError, compute_norm_stats, episode_action_chunks, load_chunked_dataset
from vla.data.normalize import FeatureStats


def test_chunks_pad_and_mask_at_episode_ends_never_mixing_episodes(synthetic_dataset):
    dataset = load_chunked_dataset(synthetic_dataset, horizon=5)
    assert len(dataset) == 21 and dataset.fps == 10
    last_of_first = dataset[11]  # episode 0 has 12 frames
    assert last_of_first["actions"].shape == (5, 7)
    assert last_of_first["actions_is_pad"].tolist() == [False, True, True, True, True]
    first_of_second = dataset[12]
    assert first_of_second["episode_index"] == 1 and not first_of_second["actions_is_pad"].any()
    # the padded rows repeat the episode's last action, not the next episode's first
    padded = last_of_first["actions"].numpy()
    np.testing.assert_allclose(padded[1:], np.repeat(padded[:1], 4, axis=0))
    assert not np.allclose(padded[1], first_of_second["actions"][0].numpy())


def test_table_chunks_equal_lerobot_chunks(synthetic_dataset):
    dataset = load_chunked_dataset(synthetic_dataset, horizon=6)
    chunks = episode_action_chunks(dataset, 6)
    assert chunks.shape == (21, 6, 7)
    for i in (0, 5, 11, 12, 20):
        np.testing.assert_allclose(chunks[i], dataset[i]["actions"].numpy(), atol=1e-6)


def test_norm_stats_match_a_recomputation(synthetic_dataset):
    dataset = load_chunked_dataset(synthetic_dataset, horizon=2)
    stats = compute_norm_stats(dataset)
    actions = np.stack([dataset.hf_dataset[i]["actions"].numpy() for i in range(len(dataset))])
    expected = FeatureStats.from_array(actions)
    np.testing.assert_allclose(stats["actions"].q99, expected.q99, rtol=1e-6)
    np.testing.assert_allclose(stats["actions"].mean, expected.mean, rtol=1e-6)
    assert stats["state"].dim == 8


def test_bad_dataset_inputs_are_named(tmp_path, synthetic_dataset):
    with pytest.raises(DatasetError, match="no meta/info.json"):
        load_chunked_dataset(tmp_path, horizon=2)
    with pytest.raises(DatasetError, match="no feature 'action'.*'actions'"):
        load_chunked_dataset(synthetic_dataset, horizon=2, action_key="action")
