"""Model cards for policy checkpoints (the README.md the Hub shows)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_policy_card(
    folder: Path,
    train_config: dict[str, Any],
    step: int | None = None,
    metrics: dict[str, Any] | None = None,
    eval_results: dict[str, Any] | None = None,
) -> Path:
    """Write ``folder/README.md``: Hub metadata, how to load and evaluate, training config, results."""
    policy, data = train_config.get("policy", {}), train_config.get("data", {})
    tokenizer = train_config.get("tokenizer", {})
    tokenizer_name = tokenizer.get("pretrained") or tokenizer.get("type", "?")
    base = policy.get("base_model", "?")
    metadata = policy_card_metadata(train_config, eval_results)
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
    if eval_results:
        lines += ["## LIBERO results", "", "| task | success | episodes |", "|---|---|---|"]
        for key, task in eval_results.get("per_task", {}).items():
            lines.append(f"| {key} | {100 * task['success_rate']:.1f}% | {task['episodes']} |")
        for suite, block in eval_results.get("per_suite", {}).items():
            lines.append(f"| {suite} (suite) | {100 * block['success_rate']:.1f}% | {block['episodes']} |")
        overall = eval_results.get("overall", {})
        if overall:
            lines.append(
                f"| **overall** | **{100 * overall['success_rate']:.1f}%** | {overall['episodes']} |"
            )
        protocol = eval_results.get("protocol", {})
        if protocol.get("shortened"):
            from vla.eval.libero import describe_cap

            lines.append(f"\nNot the standard protocol: {describe_cap(protocol)}.")
        lines.append("")
    if metrics:
        lines += ["## Last training metrics", "```json", json.dumps(metrics, indent=1), "```", ""]
    lines += ["## Training config", "```json", json.dumps(train_config, indent=1), "```"]
    path = folder / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path


#: License of the weights vla's presets start from (SmolVLM2) and of vla itself.
LICENSE = "apache-2.0"
TAGS = ["robotics", "vision-language-action", "libero", "lerobot", "vla"]


def policy_card_metadata(train_config: dict[str, Any], eval_results: dict[str, Any] | None = None):
    """The model card's YAML header as the Hub reads it (``huggingface_hub.ModelCardData``): base model and
    datasets as Hub ids (never local or cache paths), license, tags, pipeline tag and, with evaluation
    results, a ``model-index`` entry per LIBERO suite (metric: success rate in %)."""
    from huggingface_hub import EvalResult, ModelCardData

    from vla.model.backbones import hub_repo_id

    policy, data = train_config.get("policy", {}), train_config.get("data", {})
    base = hub_repo_id(str(policy.get("base_model", "")))
    dataset = hub_repo_id(str(data.get("dataset", "")))
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


def stage_checkpoint(checkpoint: Path, staging_dir: Path, eval_results: Path | None = None) -> Path:
    """Copy a checkpoint into ``staging_dir`` for upload, with a model card holding the eval results."""
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
    write_policy_card(staging_dir, train_config, state.get("step"), state.get("metrics"), results)
    return staging_dir


def push_checkpoint(
    checkpoint: Path,
    repo_id: str,
    staging_dir: Path,
    eval_results: Path | None = None,
    private: bool | None = None,
) -> str:
    """Stage a checkpoint (:func:`stage_checkpoint`: no training state, a model card) and upload the staged
    folder: the one path of ``vla push`` and ``training.push_to_hub``. Returns the commit URL."""
    from vla.hub import push_folder_to_hub

    staged = stage_checkpoint(checkpoint, staging_dir, eval_results)
    print(f"staged: {staged}")
    return push_folder_to_hub(staged, repo_id, private=private)


def stage_tokenizer(folder: Path, staging_dir: Path, report: Path | None = None) -> Path:
    """Copy an action-tokenizer folder into ``staging_dir`` with a model card: type, sizes, config, how to
    load it, and the ``vla tokenizer report`` figures when a report JSON is given (or already staged)."""
    import shutil

    from vla.tokenizers import AutoActionTokenizer

    folder = Path(folder).resolve()
    tokenizer = AutoActionTokenizer.from_pretrained(folder)  # refuses anything that is not a tokenizer
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
        from vla.config import to_dict

        lines += ["## Config", "```json", json.dumps(to_dict(config), indent=1), "```"]
    (staging_dir / "README.md").write_text("\n".join(lines) + "\n")
    return staging_dir
