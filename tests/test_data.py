import json

import numpy as np
import pytest

from vla.data.dataset import DatasetError, compute_norm_stats, episode_action_chunks, load_chunked_dataset
from vla.tokenizers.normalize import FeatureStats


def test_chunks_pad_and_mask_at_episode_ends_never_mixing_episodes(synthetic_dataset):
    dataset = load_chunked_dataset(synthetic_dataset, horizon=5)
    assert len(dataset) == 21 and dataset.fps == 10
    last_of_first = dataset[11]  # episode 0 has 12 frames
    assert last_of_first["actions"].shape == (5, 7)
    assert last_of_first["actions_is_pad"].tolist() == [False, True, True, True, True]
    first_of_second = dataset[12]
    assert first_of_second["episode_index"] == 1 and not first_of_second["actions_is_pad"].any()
    # the padded rows repeat the episode's last action, not the next episode's first
    padded = np.asarray(last_of_first["actions"])
    np.testing.assert_allclose(padded[1:], np.repeat(padded[:1], 4, axis=0))
    assert not np.allclose(padded[1], np.asarray(first_of_second["actions"][0]))


def test_chunks_equal_lerobots_own_delta_timestamps_query(synthetic_dataset):
    """Our in-memory chunking gives exactly what lerobot's delta_timestamps query gives (values and pad
    flags), and the table-column chunks the tokenizers fit on agree too."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = load_chunked_dataset(synthetic_dataset, horizon=6)
    reference = LeRobotDataset(
        "local/ref", root=synthetic_dataset, delta_timestamps={"actions": [k / 10 for k in range(6)]}
    )
    chunks = episode_action_chunks(dataset, 6)
    assert chunks.shape == (21, 6, 7)
    for i in range(21):
        ours, theirs = dataset[i], reference[i]
        np.testing.assert_allclose(ours["actions"], theirs["actions"].numpy(), atol=1e-6)
        assert ours["actions_is_pad"].tolist() == theirs["actions_is_pad"].tolist()
        np.testing.assert_allclose(chunks[i], ours["actions"], atol=1e-6)


def test_augmented_samples_depend_on_seed_epoch_and_index_only(synthetic_dataset):
    import torch

    from vla.data.augment import build_image_transforms

    shift = build_image_transforms({"enable": True, "max_num_transforms": 1, "tfs": {
        "affine": {"type": "RandomAffine", "kwargs": {"degrees": [-5, 5], "translate": [0.2, 0.2]}}}})  # fmt: skip
    plain = load_chunked_dataset(synthetic_dataset, horizon=2)
    augmented = load_chunked_dataset(synthetic_dataset, horizon=2, image_transforms=shift)
    first = augmented[3]
    torch.rand(5)  # the global generator and the reads before do not matter
    augmented[7]
    again = augmented[3]
    for key in ("image", "wrist_image"):
        assert torch.equal(first[key], again[key])
        assert not torch.equal(first[key], plain[3][key])  # shifted
        assert first[key].shape == plain[3][key].shape
    assert np.array_equal(first["actions"], plain[3]["actions"]) and np.array_equal(
        first["state"], plain[3]["state"]
    )
    augmented.set_epoch(1)  # the trainer calls it: each epoch draws anew
    assert not torch.equal(augmented[3]["image"], first["image"])


def test_norm_stats_match_a_recomputation(synthetic_dataset):
    dataset = load_chunked_dataset(synthetic_dataset, horizon=2)
    stats = compute_norm_stats(dataset)
    actions = dataset.lerobot.hf_dataset.with_format("numpy")["actions"]
    expected = FeatureStats.from_array(actions)
    np.testing.assert_allclose(stats["actions"].q99, expected.q99, rtol=1e-6)
    np.testing.assert_allclose(stats["actions"].mean, expected.mean, rtol=1e-6)
    assert stats["state"].dim == 8


def test_bad_dataset_inputs_are_named(tmp_path, synthetic_dataset):
    with pytest.raises(DatasetError, match="no meta/info.json"):
        load_chunked_dataset(tmp_path, horizon=2)
    with pytest.raises(DatasetError, match="lacks feature.*actions -> 'action'.*data.layout"):
        load_chunked_dataset(synthetic_dataset, horizon=2, features="lerobot")
    with pytest.raises(DatasetError, match="layout='nope' is invalid"):
        load_chunked_dataset(synthetic_dataset, horizon=2, features="nope")


def test_lerobot_layout_and_binary_gripper_map_onto_the_canonical_form(tmp_path):
    """A port with observation.* names and a 0/1 gripper reads exactly like the public -1/+1 layout."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from vla.data.record import LIBERO_FEATURES

    rename = {"image": "observation.images.image", "wrist_image": "observation.images.wrist_image",
              "state": "observation.state", "actions": "action"}  # fmt: skip
    features = {rename[k]: v for k, v in LIBERO_FEATURES.items()}
    ds = LeRobotDataset.create(
        "local/port", fps=10, features=features, root=tmp_path / "port", use_videos=False
    )
    gripper = np.array([0, 0, 1, 1, 1, 0], dtype=np.float32)
    for i, g in enumerate(gripper):
        ds.add_frame({"observation.images.image": np.zeros((256, 256, 3), np.uint8),
                      "observation.images.wrist_image": np.zeros((256, 256, 3), np.uint8),
                      "observation.state": np.full(8, i, np.float32),
                      "action": np.array([0.1 * i] * 6 + [g], np.float32), "task": "open the drawer"})  # fmt: skip
    ds.save_episode()
    ds.finalize()
    dataset = load_chunked_dataset(tmp_path / "port", horizon=3, features="lerobot")
    assert dataset.gripper == "binary"
    sample = dataset[1]
    assert set(["image", "wrist_image", "state", "actions", "actions_is_pad", "task"]) <= set(sample)
    np.testing.assert_allclose(sample["actions"][:, -1], [-1, 1, 1])
    np.testing.assert_allclose(episode_action_chunks(dataset, 3)[1, :, -1], [-1, 1, 1])
    assert compute_norm_stats(dataset)["actions"].min[-1] == -1.0
    with pytest.raises(DatasetError, match="lacks feature"):
        load_chunked_dataset(tmp_path / "port", horizon=3)  # the default layout does not fit this port


def test_hf_libero_layout_loads_and_v2_datasets_are_refused_with_the_converter_command(tmp_path):
    """HuggingFaceVLA/libero's names (v3.0) load through a table entry; a v2.x dataset (the layout of
    physical-intelligence/libero) is refused in one line that names lerobot's converter."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from vla.data.dataset import DatasetError, load_chunked_dataset
    from vla.data.features import LAYOUTS
    from vla.data.record import libero_features

    names = {"image": "observation.images.image", "wrist_image": "observation.images.image2",
             "state": "observation.state", "actions": "action"}  # fmt: skip
    features = {names[k]: v for k, v in libero_features(32).items()}
    ds = LeRobotDataset.create("local/hf", fps=10, features=features, root=tmp_path / "hf", use_videos=False)
    for i in range(4):
        ds.add_frame({"observation.images.image": np.zeros((32, 32, 3), np.uint8),
                      "observation.images.image2": np.full((32, 32, 3), 7, np.uint8),
                      "observation.state": np.full(8, i, np.float32),
                      "action": np.array([0.1 * i] * 6 + [1.0], np.float32), "task": "pick it up"})  # fmt: skip
    ds.save_episode()
    ds.finalize()
    dataset = load_chunked_dataset(tmp_path / "hf", horizon=2, features="hf_libero")
    assert LAYOUTS["hf_libero"].wrist_image == "observation.images.image2" and dataset.image_size == 32
    sample = dataset[1]
    assert float(np.asarray(sample["wrist_image"]).max()) > 0 and sample["state"][0] == 1
    np.testing.assert_allclose(sample["actions"][:, 0], [0.1, 0.2], atol=1e-6)

    old = tmp_path / "libero_v21"
    (old / "meta").mkdir(parents=True)
    info = json.loads((tmp_path / "hf" / "meta" / "info.json").read_text()) | {"codebase_version": "v2.1"}
    (old / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(
        DatasetError, match=r"v2\.1 layout.*convert_dataset_v21_to_v30 --repo-id=local/libero_v21"
    ):
        load_chunked_dataset(old, horizon=2, features="hf_libero")


def test_gripper_conversion_is_one_documented_function():
    from vla.data.features import detect_gripper_convention, gripper_to_signed

    assert detect_gripper_convention(np.array([0.0, 1.0, 1.0])) == "binary"
    assert detect_gripper_convention(np.array([-1.0, 1.0])) == "signed"
    x = np.array([[0.3, 0.0], [0.3, 1.0]])
    np.testing.assert_allclose(gripper_to_signed(x, "binary"), [[0.3, -1.0], [0.3, 1.0]])
    assert gripper_to_signed(x, "signed") is x


def test_statistics_from_other_data_are_checked_against_the_dataset(synthetic_dataset):
    from vla.data.dataset import check_stats_match

    dataset = load_chunked_dataset(synthetic_dataset, horizon=2)
    own = compute_norm_stats(dataset)
    assert check_stats_match(own["actions"], dataset) == 1.0
    with pytest.raises(DatasetError, match="8 dimension.*'actions' has 7"):
        check_stats_match(own["state"], dataset, "actions")
    narrow = FeatureStats.from_array(np.zeros((4, 7)) + np.arange(4)[:, None] * 1e-3)
    assert check_stats_match(narrow, dataset) < 0.5  # warns: values will be clipped


def test_our_statistics_agree_with_the_stats_json_lerobot_ships(synthetic_dataset):
    from vla.data.dataset import compare_with_shipped_stats

    dataset = load_chunked_dataset(synthetic_dataset, horizon=2)
    diffs = compare_with_shipped_stats(compute_norm_stats(dataset), dataset)
    assert set(diffs) == {"state", "actions"}
    for key in diffs:  # exact statistics agree to float32 precision
        assert max(diffs[key][s] for s in ("mean", "std", "min", "max")) < 1e-4, diffs[key]
        assert {"q01", "q99"} <= set(diffs[key])


def test_nan_actions_in_a_dataset_are_named_at_load(tmp_path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from vla.data.record import LIBERO_FEATURES
    from vla.tokenizers.normalize import StatisticsError

    ds = LeRobotDataset.create(
        "local/nan", fps=10, features=LIBERO_FEATURES, root=tmp_path / "nan", use_videos=False
    )
    for i in range(3):
        action = np.zeros(7, np.float32)
        action[2] = np.nan if i == 1 else 0.0
        ds.add_frame({"image": np.zeros((256, 256, 3), np.uint8), "wrist_image": np.zeros((256, 256, 3), np.uint8),
                      "state": np.zeros(8, np.float32), "actions": action, "task": "t"})  # fmt: skip
    ds.save_episode()
    ds.finalize()
    with pytest.raises(StatisticsError, match="actions holds 1 NaN/inf.*index \\[1, 2\\]"):
        load_chunked_dataset(tmp_path / "nan", horizon=2)
