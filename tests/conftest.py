"""pytest fixtures only; the helpers behind them (shared with bench/) live in vla.testing."""

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from vla.testing import make_policy, write_synthetic_libero_dataset, write_tiny_lerobot_policy  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded_torch():
    """Every test starts from torch's seed 0, so a result never depends on which tests ran before it."""
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory) -> Path:
    return write_synthetic_libero_dataset(tmp_path_factory.mktemp("data") / "synthetic")


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    from vla.model.backbones.smolvlm import tiny_model_path

    return tiny_model_path()


@pytest.fixture(scope="session")
def tiny_policy(synthetic_dataset, tiny_model_dir):
    """A fresh tiny policy with binning tokens fitted on the synthetic dataset (shared: do not mutate)."""
    return make_policy(synthetic_dataset)


@pytest.fixture(scope="session")
def tiny_lerobot_policy(tmp_path_factory) -> Path:
    return write_tiny_lerobot_policy(tmp_path_factory.mktemp("lerobot") / "act")
