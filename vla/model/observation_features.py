"""Observation features from a VLM's own encoders, per dataset frame: what ActionCodec's contrastive loss
aligns its tokens with (the paper's multimodal mutual-information principle).

A frame's feature is [mean-pooled vision-encoder output of each camera image; mean of the instruction's
input-token embeddings], computed with the same base model the policy will fine-tune, once, and cached
under ``$VLA_CACHE/observation_features`` (keyed by the dataset's files and the model), so refitting a
tokenizer does not run the VLM again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vla.data.dataset import ChunkedDataset


def _cache_file(dataset: ChunkedDataset, base_model: str, image_keys: tuple[str, ...]) -> Path:
    from vla.model.backbones import cache_root

    root = Path(dataset.lerobot.root)
    info = (root / "meta" / "info.json").read_text()
    data_files = sorted(
        (p.relative_to(root).as_posix(), p.stat().st_size) for p in root.glob("data/**/*.parquet")
    )
    key = json.dumps([str(root.resolve()), info, data_files, base_model, list(image_keys)])
    return cache_root() / "observation_features" / (hashlib.sha256(key.encode()).hexdigest()[:20] + ".npy")


def observation_features(
    dataset: ChunkedDataset,
    base_model: str = "tiny",
    image_keys: tuple[str, ...] = ("image", "wrist_image"),
    batch_size: int = 32,
    progress: bool = True,
) -> np.ndarray:
    """(frames, features) float32, one row per dataset frame in order (cached)."""
    cache = _cache_file(dataset, base_model, image_keys)
    if cache.is_file():
        features = np.load(cache)
        if features.shape[0] == len(dataset):
            return features
    import torch
    from tqdm.auto import tqdm

    from vla.model.backbones import backbone_for, resolve_model_source
    from vla.model.policy import _to_uint8_hwc

    source = resolve_model_source(base_model)
    backbone = backbone_for(base_model)
    processor = backbone.load_processor(source, base_model)
    model = backbone.load_model(source).eval()
    table = dataset.lerobot.hf_dataset
    keys = [dataset.features.dataset_key(k) for k in image_keys]
    tasks = np.asarray(table.with_format("numpy")["task_index"])
    task_text = dict(
        zip(dataset.lerobot.meta.tasks["task_index"], dataset.lerobot.meta.tasks.index, strict=True)
    )
    embeddings = model.get_input_embeddings()
    text_rows = {}
    with torch.inference_mode():
        for task in np.unique(tasks):
            ids = processor.tokenizer(task_text[int(task)], return_tensors="pt")["input_ids"]
            text_rows[int(task)] = embeddings(ids)[0].mean(0).numpy()
        rows = []
        for start in tqdm(
            range(0, len(table), batch_size), desc="observation features", disable=not progress
        ):
            batch = table[start : start + batch_size]
            pooled = []
            for key in keys:
                images = [_to_uint8_hwc(image) for image in batch[key]]
                pixels = processor.image_processor(images, return_tensors="pt")["pixel_values"]
                hidden = backbone.image_features(model, pixels)  # (batch * sub-images, tokens, dim)
                pooled.append(hidden.mean(1).reshape(len(images), -1, hidden.shape[-1]).mean(1).numpy())
            text = np.stack([text_rows[int(t)] for t in tasks[start : start + len(pooled[0])]])
            rows.append(np.concatenate([*pooled, text], axis=1).astype(np.float32))
    features = np.concatenate(rows)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, features)
    tmp.replace(cache)
    return features
