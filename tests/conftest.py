import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

INSTRUCTION = "pick up the alphabet soup and place it in the basket"


def write_synthetic_libero_dataset(root: Path, episode_lengths=(12, 9), seed: int = 0) -> Path:
    """A real LeRobotDataset (public LIBERO schema) with synthetic content: fast, no simulator."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from vla.data.record import FPS, LIBERO_FEATURES

    rng = np.random.default_rng(seed)
    dataset = LeRobotDataset.create(
        repo_id="local/synthetic", fps=FPS, features=LIBERO_FEATURES, root=root, use_videos=False
    )
    for length in episode_lengths:
        t = np.linspace(0, 1, length)[:, None]
        actions = np.concatenate(
            [0.5 * np.sin(2 * np.pi * t + rng.uniform(0, 6, 6)), np.where(t > 0.5, 1.0, -1.0)], axis=1
        )
        for i in range(length):
            dataset.add_frame(
                {
                    "image": rng.integers(0, 255, (256, 256, 3), dtype=np.uint8),
                    "wrist_image": rng.integers(0, 255, (256, 256, 3), dtype=np.uint8),
                    "state": rng.normal(size=8).astype(np.float32),
                    "actions": actions[i].astype(np.float32),
                    "task": INSTRUCTION,
                }
            )
        dataset.save_episode()
    dataset.finalize()
    return root


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory) -> Path:
    return write_synthetic_libero_dataset(tmp_path_factory.mktemp("data") / "synthetic")


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    from vla.model.tiny import tiny_model_path

    return tiny_model_path()


@pytest.fixture(scope="session")
def tiny_policy(synthetic_dataset, tiny_model_dir):
    """A fresh tiny policy with binning tokens fitted on the synthetic dataset (shared: do not mutate)."""
    return make_policy(synthetic_dataset)


def make_policy(dataset_dir: Path, horizon: int = 4, **policy_fields):
    from vla.data.dataset import compute_norm_stats, episode_action_chunks, load_chunked_dataset
    from vla.model.policy import PolicyConfig, VLAPolicy
    from vla.tokenizers import BinningActionTokenizer

    dataset = load_chunked_dataset(dataset_dir, horizon)
    tokenizer = BinningActionTokenizer(horizon=horizon, n_bins=32).fit(
        episode_action_chunks(dataset, horizon)
    )
    return VLAPolicy.from_base(PolicyConfig(**policy_fields), tokenizer, compute_norm_stats(dataset)), dataset
