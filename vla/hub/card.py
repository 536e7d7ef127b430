"""Model cards (the README.md the Hub shows) for policy checkpoints and action tokenizers.

A card is written from plain data its caller hands over: the training config, the evaluation results (a
results.json's content) with their table already rendered (``vla.eval.results.format_table(results,
markdown=True)``), how a base model or dataset name maps to a Hub id, and for a tokenizer the loaded
tokenizer. This module imports nothing of the model, the tokenizers or the evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def as_hub_id(name_or_path: str) -> str | None:
    """A name as the Hub knows it: ``owner/name`` when it is not a local path, else ``None`` (a local or cache
    path means nothing on another machine). Callers that know more names (the model presets) pass their own."""
    if not name_or_path or Path(name_or_path).expanduser().exists() or name_or_path.count("/") != 1:
        return None
    return name_or_path


def write_policy_card(
    folder: Path,
    train_config: dict[str, Any],
    step: int | None = None,
    metrics: dict[str, Any] | None = None,
    eval_results: dict[str, Any] | None = None,
    *,
    results_table: str | None = None,
    hub_id: Callable[[str], str | None] = as_hub_id,
) -> Path:
    """Write ``folder/README.md``: Hub metadata, how to load and evaluate, results, training config.

    ``eval_results``: a results.json's content (its per-suite rates become the card's ``model-index``);
    ``results_table``: its table, rendered by the caller; ``hub_id``: the Hub id of a base model or dataset
    name (``vla.model.backbones.hub_repo_id`` knows the presets)."""
    policy, data = train_config.get("policy", {}), train_config.get("data", {})
    tokenizer = train_config.get("tokenizer", {})
    tokenizer_name = tokenizer.get("pretrained") or tokenizer.get("type", "?")
    base = policy.get("base_model", "?")
    metadata = policy_card_metadata(train_config, eval_results, hub_id=hub_id)
    lines = [
        "---",
        metadata.to_yaml(),
        "---",
        "",
        f"# VLA policy: {base} + {tokenizer_name} action tokens",
        "",
        f"Fine-tuned ({policy.get('finetune', 'full')}) with vla"
        + (f" for {step} optimizer steps" if step is not None else "")
        + f" on `{data.get('dataset', '?')}`.",
        "",
        "```python",
        "from vla.model.policy import VLAPolicy",
        'policy = VLAPolicy.from_pretrained("<this repo id or folder>")',
        'chunk = policy.predict_action_chunk({"image": ..., "wrist_image": ..., "state": ..., "task": "..."})',
        "```",
        "",
        "Evaluate (the standard protocol, all four suites): `vla eval --policy <this repo id or folder> "
        "--suite libero_spatial,libero_object,libero_goal,libero_10 --tasks all`.",
        "",
    ]
    if results_table:
        lines += ["## LIBERO results", "", results_table, ""]
    if metrics:
        lines += ["## Last training metrics", "```json", json.dumps(metrics, indent=1), "```", ""]
    lines += ["## Training config", "```json", json.dumps(train_config, indent=1), "```"]
    path = folder / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path


#: License of the weights vla's presets start from (SmolVLM2) and of vla itself.
LICENSE = "apache-2.0"
TAGS = ["robotics", "vision-language-action", "libero", "lerobot", "vla"]


def policy_card_metadata(
    train_config: dict[str, Any],
    eval_results: dict[str, Any] | None = None,
    *,
    hub_id: Callable[[str], str | None] = as_hub_id,
):
    """The model card's YAML header as the Hub reads it (``huggingface_hub.ModelCardData``): base model and
    datasets as Hub ids (``hub_id``; never local or cache paths), license, tags, pipeline tag and, with
    evaluation results, a ``model-index`` entry per LIBERO suite (metric: success rate in %)."""
    from huggingface_hub import EvalResult, ModelCardData

    policy, data = train_config.get("policy", {}), train_config.get("data", {})
    base = hub_id(str(policy.get("base_model", "")))
    dataset = hub_id(str(data.get("dataset", "")))
    results = []
    for suite, block in (eval_results or {}).get("per_suite", {}).items():
        results.append(
            EvalResult(
                task_type="robotics",
                task_name="Robot manipulation",
                dataset_type="libero",
                dataset_name=f"LIBERO ({suite})",
                dataset_config=suite,
                metric_type="success_rate",
                metric_name="Success rate (%)",
                metric_value=round(100 * block["success_rate"], 2),
            )
        )
    name = train_config.get("training", {}).get("push_to_hub") or "vla-policy"
    return ModelCardData(
        library_name="vla",
        pipeline_tag="robotics",
        license=LICENSE,
        tags=TAGS,
        base_model=base,
        datasets=[dataset] if dataset else None,
        model_name=str(name).split("/")[-1] if results else None,
        eval_results=results or None,
    )


#: Left out of a pushed checkpoint: optimizer/RNG state is for resuming, not for acting.
PUSH_EXCLUDE = ("training_state",)


def stage_checkpoint(
    checkpoint: Path,
    staging_dir: Path,
    eval_results: Path | None = None,
    *,
    results_table: Callable[[dict[str, Any]], str] | None = None,
    hub_id: Callable[[str], str | None] = as_hub_id,
) -> Path:
    """Copy a checkpoint into ``staging_dir`` for upload, with a model card holding the eval results (from
    ``eval_results``, or the checkpoint's own eval_results.json): ``results_table`` renders their table
    (without it the card carries them in its metadata only); ``hub_id`` as in :func:`write_policy_card`."""
    import shutil

    checkpoint = Path(checkpoint).resolve()
    if not (checkpoint / "vla_policy.json").is_file():
        raise FileNotFoundError(f"{checkpoint} is not a policy checkpoint: it has no vla_policy.json")
    if staging_dir.exists():
        shutil.rmtree(staging_dir)
    shutil.copytree(checkpoint, staging_dir, ignore=shutil.ignore_patterns(*PUSH_EXCLUDE))
    results = None
    if eval_results is not None:
        results = json.loads(Path(eval_results).read_text())
        shutil.copy(eval_results, staging_dir / "eval_results.json")
    elif (staging_dir / "eval_results.json").is_file():
        results = json.loads((staging_dir / "eval_results.json").read_text())
    config_file = staging_dir / "train_config.json"
    train_config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    state_file = staging_dir / "trainer_state.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    table = results_table(results) if results and results_table else None
    write_policy_card(staging_dir, train_config, state.get("step"), state.get("metrics"), results,
                      results_table=table, hub_id=hub_id)  # fmt: skip
    return staging_dir


def push_checkpoint(
    checkpoint: Path,
    repo_id: str,
    staging_dir: Path,
    eval_results: Path | None = None,
    private: bool | None = None,
    *,
    results_table: Callable[[dict[str, Any]], str] | None = None,
    hub_id: Callable[[str], str | None] = as_hub_id,
) -> str:
    """Stage a checkpoint (:func:`stage_checkpoint`: no training state, a model card) and upload the staged
    folder: the one path of ``vla push`` and ``training.push_to_hub``. Returns the commit URL."""
    from vla.hub import push_folder_to_hub

    staged = stage_checkpoint(
        checkpoint, staging_dir, eval_results, results_table=results_table, hub_id=hub_id
    )
    print(f"staged: {staged}")
    return push_folder_to_hub(staged, repo_id, private=private)


def stage_tokenizer(folder: Path, staging_dir: Path, tokenizer, report: Path | None = None) -> Path:
    """Copy an action-tokenizer folder into ``staging_dir`` with a model card: type, sizes, config, how to
    load it, and the ``vla tokenizer report`` figures when a report JSON is given (or already staged).
    ``tokenizer``: the folder's tokenizer as the caller loaded it (``AutoActionTokenizer.from_pretrained``,
    which refuses anything that is not a tokenizer)."""
    import shutil

    folder = Path(folder).resolve()
    if staging_dir.exists():
        shutil.rmtree(staging_dir)
    shutil.copytree(folder, staging_dir)
    if report is not None:
        shutil.copy(report, staging_dir / "tokenizer_report.json")
    measured = None
    if (staging_dir / "tokenizer_report.json").is_file():
        measured = json.loads((staging_dir / "tokenizer_report.json").read_text())
    kind = tokenizer.tokenizer_type
    lines = [
        "---",
        "library_name: vla",
        "pipeline_tag: robotics",
        f"tags: [robotics, action-tokenizer, {kind}, libero, lerobot]",
        "---",
        "",
        f"# {kind} action tokenizer",
        "",
        f"Turns a chunk of {tokenizer.horizon} x {tokenizer.action_dim} robot actions into "
        + ("at most " if tokenizer.variable_length else "")
        + f"{tokenizer.tokens_per_chunk} tokens from a vocabulary of {tokenizer.vocab_size}, and back. "
        "Normalization statistics travel inside the folder.",
        "",
        "```python",
        "from vla.tokenizers import AutoActionTokenizer",
        'tokenizer = AutoActionTokenizer.from_pretrained("<this repo id or folder>")',
        "ids = tokenizer.encode(chunks)          # (N, horizon, action_dim) -> (N, tokens)",
        "chunks = tokenizer.decode(ids).actions  # never raises on bad ids; .valid flags them",
        "```",
        "",
        "Train a policy with it: `tokenizer.pretrained=<this repo id or folder>` in a vla recipe.",
        "",
    ]
    for entry in (measured or {}).get("reports", []):
        rec, tpc = entry["reconstruction"], entry["tokens_per_chunk"]
        lines += [
            f"## Measured on `{measured.get('dataset', '?')}` ({entry['n_chunks']} chunks)",
            "",
            "| tokens/chunk (mean / max) | MSE | codes used | overlap t/t+1 | position MI (bits) | task MI (bits) |",
            "|---|---|---|---|---|---|",
            f"| {tpc['mean']:.1f} / {tpc['max']} | {rec['mse']:.2e} | {entry['vocabulary']['used']} / "
            f"{entry['vocabulary']['vocab_size']} | {entry['temporal_overlap'] or 0:.3f} | "
            f"{entry['position_mutual_information_bits']:.3f} | "
            + (
                f"{entry['task_information']['mutual_information_bits']:.2f} |"
                if entry.get("task_information")
                else "- |"
            ),
            "",
        ]
    config = getattr(tokenizer, "config", None)
    if config is not None:
        from vla.config import to_dict  # level 0

        lines += ["## Config", "```json", json.dumps(to_dict(config), indent=1), "```"]
    (staging_dir / "README.md").write_text("\n".join(lines) + "\n")
    return staging_dir
