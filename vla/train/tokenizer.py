"""Fitting an action tokenizer on a dataset: the first stage of training (``vla tokenizer fit`` and ``vla
demo`` run it alone). It lives here, above vla.data and vla.model, because tokenizers that align their tokens
with observations (ActionCodec) need the base VLM's features (vla.model.observation_features)."""

from __future__ import annotations

from typing import Any

import numpy as np

from vla.data.dataset import ChunkedDataset, episode_action_chunks, frames_with_successor, shifted_chunk_pairs


def fit_action_tokenizer(
    tokenizer_type: str,
    dataset: ChunkedDataset,
    horizon: int,
    options: dict[str, Any] | None = None,
    fit_kwargs: dict[str, Any] | None = None,
):
    """A new ``tokenizer_type`` tokenizer fitted on the dataset's action chunks of ``horizon`` steps (the
    training recipe's ``policy.horizon``; with the chunks one step later for tokenizers that use them, and
    the base VLM's observation features for those that align with them); the one place training, the CLI
    and the demo fit tokenizers."""
    from vla.tokenizers import AutoActionTokenizer

    tokenizer = AutoActionTokenizer.from_config(
        tokenizer_type, horizon=horizon, action_dim=dataset.action_dim, **(options or {})
    )
    extra: dict[str, Any] = dict(fit_kwargs or {})  # e.g. ActionCodec's checkpoint_dir / checkpoint_every
    rows = frames_with_successor(dataset) if tokenizer.fits_on_shifted_chunks else np.arange(len(dataset))
    if tokenizer.uses_observations:
        from vla.model.observation_features import observation_features

        extra["observations"] = observation_features(dataset, tokenizer.config.observation_model)[rows]
    if tokenizer.fits_on_shifted_chunks:
        return tokenizer.fit(*shifted_chunk_pairs(dataset, horizon), **extra)
    return tokenizer.fit(episode_action_chunks(dataset, horizon), **extra)
