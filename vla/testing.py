"""What tests and benchmarks share: small synthetic artifacts built offline in seconds (a LIBERO-schema
dataset, a tiny policy, a tiny lerobot policy) and the record every benchmark writes next to its numbers
(the machine and the package versions).

    from vla.testing import make_policy, write_synthetic_libero_dataset, write_result

Heavy libraries are imported inside each helper. Nothing in ``vla`` imports this module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

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


def make_policy(dataset_dir: Path, horizon: int = 4, **policy_fields):
    from vla.data.dataset import compute_norm_stats, episode_action_chunks, load_chunked_dataset
    from vla.model.policy import PolicyConfig, VLAPolicy
    from vla.tokenizers import BinningActionTokenizer

    dataset = load_chunked_dataset(dataset_dir, horizon)
    tokenizer = BinningActionTokenizer(horizon=horizon, n_bins=32).fit(
        episode_action_chunks(dataset, horizon)
    )
    config = PolicyConfig(horizon=horizon, **policy_fields)
    return VLAPolicy.from_base(config, tokenizer, compute_norm_stats(dataset)), dataset


def write_tiny_lerobot_policy(
    folder: Path,
    image_size: int = 64,
    cameras=("image", "image2"),
    n_action_steps: int = 5,
    chunk_size: int = 10,
    full_size: bool = False,
) -> Path:
    """A lerobot ACT policy with random weights, saved as lerobot saves it (no download).

    Small transformer sizes unless ``full_size`` (ACT's defaults, for benchmarks); always a resnet18 backbone.
    """
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.factory import make_pre_post_processors

    images = {
        f"observation.images.{c}": PolicyFeature(FeatureType.VISUAL, (3, image_size, image_size))
        for c in cameras
    }
    sizes = {} if full_size else dict(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1)
    config = ACTConfig(
        input_features={**images, "observation.state": PolicyFeature(FeatureType.STATE, (8,))},
        output_features={"action": PolicyFeature(FeatureType.ACTION, (7,))},
        chunk_size=chunk_size, n_action_steps=n_action_steps, n_decoder_layers=1, use_vae=False,
        pretrained_backbone_weights=None, device="cpu", **sizes,
    )  # fmt: skip
    torch.manual_seed(0)
    policy = ACTPolicy(config)
    imagenet = {"mean": torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1),
                "std": torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)}  # fmt: skip
    stats = {
        **{key: imagenet for key in images},
        "observation.state": {"mean": torch.zeros(8), "std": torch.ones(8)},
        "action": {"mean": torch.zeros(7), "std": torch.full((7,), 0.5)},
    }
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=stats)
    for artifact in (policy, preprocessor, postprocessor):
        artifact.save_pretrained(folder)
    return folder


# -- benchmark records ---------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    from vla.versions import machine_info

    return machine_info()


def versions(*names: str) -> dict[str, str]:
    from vla.versions import package_versions

    return package_versions(*names)


def write_result(path: str | Path, result: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), "versions": versions(), **result}, indent=1))
    print(json.dumps(result, indent=1))
    print(f"written: {path}")
    return path
