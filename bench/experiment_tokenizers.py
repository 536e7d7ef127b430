"""The stage-1 tokenizer comparison: one row per experiment that trained on the same episodes.

    OMP_NUM_THREADS=1 .venv/bin/python bench/experiment_tokenizers.py \\
        outputs/experiments/libero_object_task0 outputs/experiments/libero_object_task0_fast \\
        outputs/experiments/libero_object_task0_actioncodec --out outputs/bench/experiment_tokenizers.json

For each experiment folder (``vla experiment`` output, evaluated or not): success with its 95% interval and
the baselines (from results.json when the evaluation has run), tokens per chunk, reconstruction error of
the fitted tokenizer on every chunk of the training episodes (mean absolute, normalized units, per action
dimension), detokenization latency per chunk, the loss curve's ends, and the trained policy's free-run error
on ``--frames`` training frames (greedy decoding, first action of the chunk and whole chunk, x/y/z): how
well the model learned its own training data, whatever the simulator says; the chunk error also split into
well-formed and malformed chunks. ``input_swapped``: the same
frames with another frame's state, or another frame's camera images, in the prompt: how much the first
action moves (a policy that ignores an input does not move) and its error then.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from vla.testing import write_result


def tokenizer_row(folder: Path, chunks) -> dict:
    import numpy as np

    from vla.tokenizers import AutoActionTokenizer

    tokenizer = AutoActionTokenizer.from_pretrained(folder)
    ids = tokenizer.encode(chunks)
    start = time.perf_counter()
    decoded = tokenizer.decode(ids)
    seconds = time.perf_counter() - start
    error = np.abs(decoded.actions - chunks)
    return {
        "type": tokenizer.tokenizer_type,
        "vocab_size": tokenizer.vocab_size,
        "tokens_per_chunk_mean": round(float((ids >= 0).sum(1).mean()), 2),
        "tokens_per_chunk_max": int((ids >= 0).sum(1).max()),
        "reconstruction_mean_abs": [round(float(v), 4) for v in error.mean((0, 1))],
        "reconstruction_max_abs": [round(float(v), 3) for v in error.max((0, 1))],
        "detokenize_ms_per_chunk": round(1000 * seconds / len(chunks), 4),
    }


def policy_row(checkpoint: Path, dataset, frames: int) -> dict:
    import numpy as np
    import torch

    from vla.model.policy import VLAPolicy

    torch.manual_seed(0)
    policy = VLAPolicy.from_pretrained(checkpoint)
    rows = np.random.default_rng(0).choice(len(dataset), frames, replace=False)
    samples = [dataset[int(i)] for i in rows]
    truth = np.stack([np.asarray(s["actions"]) for s in samples])
    start = time.perf_counter()
    predicted, valid, ids = predict(policy, samples)
    seconds = time.perf_counter() - start
    error = np.abs(predicted - truth)
    # Which inputs it reads: the same frames with another frame's state, or another frame's camera images.
    other = np.random.default_rng(1).permutation(frames)
    images = policy.config.image_keys
    swapped = {
        "state": [{**s, "state": samples[o]["state"]} for s, o in zip(samples, other, strict=True)],
        "images": [{**s, **{k: samples[o][k] for k in images}} for s, o in zip(samples, other, strict=True)],
    }
    extra: dict = {"input_swapped": {"other_frames_truth_first_action_change_xyz": xyz(truth[other] - truth)}}
    for what, inputs in swapped.items():
        changed = predict(policy, inputs)[0]
        extra["input_swapped"][what] = {
            "first_action_change_xyz": xyz(changed - predicted),
            "first_action_error_xyz": xyz(changed - truth),
        }
    tokenizer = policy.action_tokenizer
    if hasattr(tokenizer, "token_lengths") and not valid.all():  # variable-length tokens (FAST)
        off = np.asarray(coefficients_off(tokenizer, ids))[~valid]
        extra["malformed_values_off_percentiles"] = {
            str(q): round(float(np.percentile(off, q)), 1) for q in (0, 10, 25, 50, 75, 90, 100)
        }
    if (
        tokenizer.tokens_per_chunk == tokenizer.horizon * tokenizer.action_dim
    ):  # one token per value (binning)
        accuracy = teacher_forced_accuracy(policy, samples).reshape(tokenizer.horizon, tokenizer.action_dim)
        extra["teacher_forced_accuracy_by_step"] = [round(float(v), 3) for v in accuracy.mean(1)]
        extra["teacher_forced_accuracy_by_dimension"] = [round(float(v), 3) for v in accuracy.mean(0)]
    return {
        **extra,
        "checkpoint": str(checkpoint.resolve()),
        "frames": frames,
        "free_run_error_first_action_xyz": xyz(error),
        "free_run_error_chunk_xyz": [round(float(v), 3) for v in error[..., :3].mean((0, 1))],
        "mean_action_error_first_action_xyz": xyz(truth - truth.mean(0)),
        "valid_chunks": round(float(valid.mean()), 3),
        # are malformed chunks (FAST: ids that spell the wrong number of coefficients) worse than the others?
        "free_run_error_chunk_xyz_by_validity": {
            name: {
                "chunks": int(rows.sum()),
                "error_xyz": [round(float(v), 3) for v in error[rows][..., :3].mean((0, 1))],
            }
            for name, rows in (("valid", valid), ("malformed", ~valid))
            if rows.any()
        },
        "policy_ms_per_chunk_batch16": round(1000 * seconds / frames * 16, 1),
    }


def predict(policy, samples: list[dict]) -> tuple:
    """Greedy chunks, whether each decoded cleanly, and the action-token ids behind them."""
    import numpy as np

    actions, valid, ids = [], [], []
    for i in range(0, len(samples), 16):
        rows = policy.predict_action_ids(samples[i : i + 16])
        decoded = policy.action_tokenizer.decode(rows)
        actions.append(decoded.actions)
        valid.append(decoded.valid)
        ids.extend(np.asarray(row) for row in rows)
    return np.concatenate(actions), np.concatenate(valid), ids


def coefficients_off(tokenizer, ids: list) -> list[int]:
    """Per row: how many values its ids spell minus the chunk's (FAST: DCT coefficients; 0 = well-formed)."""
    lengths, expected = tokenizer.token_lengths()
    return [int(lengths[row[(row >= 0) & (row < len(lengths))]].sum()) - expected for row in ids]


def xyz(difference) -> list[float]:
    """Mean absolute difference of the chunks' first actions, x/y/z."""
    import numpy as np

    return [round(float(v), 3) for v in np.abs(difference)[:, 0, :3].mean(0)]


def teacher_forced_accuracy(policy, samples):
    """Per token position: how often the argmax over the action tokens, given the true tokens before it,
    is the true token (what the training loss sees), averaged over the samples."""
    import numpy as np
    import torch

    from vla.model.policy import IGNORE_INDEX

    hits = []
    with torch.no_grad():
        for i in range(0, len(samples), 16):
            batch = policy.collate(samples[i : i + 16])
            logits = policy.model(**batch).logits[:, :-1]
            labels = batch["labels"][:, 1:]
            lo, n = policy.action_token_offset, policy.action_tokenizer.vocab_size
            predicted = logits[..., lo : lo + n].argmax(-1) + lo
            for row in range(len(labels)):
                labelled = (labels[row] != IGNORE_INDEX) & (labels[row] >= lo) & (labels[row] < lo + n)
                hits.append((predicted[row][labelled] == labels[row][labelled]).float().numpy())
    return np.stack(hits).mean(0)


def state_neighbour_error(dataset, held_out_from: int = 40, k: int = 5) -> dict:
    """How far the proprio state alone predicts the expert's action: k-nearest-neighbour regression on the
    standardized state, fitted on episodes < ``held_out_from``, scored on the others (held out by episode)."""
    import numpy as np

    states, actions = dataset.column("state"), dataset.column("actions")
    held_out = dataset.episode_index() >= held_out_from
    mean, std = states[~held_out].mean(0), states[~held_out].std(0) + 1e-6
    train, test = (states[~held_out] - mean) / std, (states[held_out] - mean) / std
    distances = ((test[:, None, :] - train[None]) ** 2).sum(-1)
    nearest = np.argsort(distances, 1)[:, :k]
    predicted = actions[~held_out][nearest].mean(1)
    return {
        "k": k,
        "held_out_episodes_from": held_out_from,
        "error_xyz": [round(float(v), 3) for v in np.abs(predicted - actions[held_out])[:, :3].mean(0)],
        "mean_action_error_xyz": [
            round(float(v), 3) for v in np.abs(actions[held_out] - actions[~held_out].mean(0))[:, :3].mean(0)
        ],
    }


def experiment_row(folder: Path, frames: int) -> dict:
    from vla.config import from_dict
    from vla.data.dataset import episode_action_chunks, load_chunked_dataset
    from vla.experiment import ExperimentConfig, train_config

    # the config the experiment ran with, as it wrote it; runs from before the horizon moved to the policy
    # (data.horizon -> policy.horizon) are read as the current code would have written them
    written = json.loads((folder / "experiment.json").read_text())
    recipe = written.get("train", {}).get("recipe", {})
    if "horizon" in recipe.get("data", {}):
        recipe.setdefault("policy", {})["horizon"] = recipe["data"].pop("horizon")
    config = from_dict(ExperimentConfig, written)
    horizon = train_config(config).policy.horizon
    dataset = load_chunked_dataset(config.data_folder, horizon)
    row: dict = {"experiment": config.name, "folder": str(folder), "data": str(config.data_folder)}
    row["tokenizer"] = tokenizer_row(folder / "tokenizer", episode_action_chunks(dataset, horizon))
    metrics = folder / "train" / "metrics.jsonl"
    if metrics.is_file():
        losses = [json.loads(line)["loss"] for line in metrics.read_text().splitlines()]
        row["training"] = {
            "steps": len(losses),
            "loss_first_10": round(sum(losses[:10]) / 10, 3),
            "loss_last_10": round(sum(losses[-10:]) / 10, 3),
        }
    checkpoint = folder / "train" / "checkpoints" / "last"
    if checkpoint.exists():
        row["policy"] = policy_row(checkpoint, dataset, frames)
    results = folder / "results.json"
    if results.is_file():
        row["success"] = json.loads(results.read_text())["success"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("experiments", nargs="+", type=Path, help="vla experiment output folders")
    parser.add_argument("--frames", type=int, default=64, help="training frames for the free-run error")
    parser.add_argument("--out", default="outputs/bench/experiment_tokenizers.json")
    args = parser.parse_args()
    rows = [experiment_row(folder, args.frames) for folder in args.experiments]
    from vla.data.dataset import load_chunked_dataset

    first = Path(rows[0]["data"])
    data = {
        "folder": str(first),
        "state_neighbour_regression": state_neighbour_error(load_chunked_dataset(first, 1)),
    }
    write_result(args.out, {"benchmark": "experiment_tokenizers", "data": data, "rows": rows})


if __name__ == "__main__":
    main()
