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
    lines = [
        "---",
        "library_name: vla",
        "pipeline_tag: robotics",
        "tags: [robotics, vision-language-action, libero, lerobot]",
    ]
    if base not in ("tiny", "?") and "/" in base:
        lines.append(f"base_model: {base}")
    lines += [
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
        "Evaluate: `vla eval --policy <this repo id or folder> --suite libero_object`.",
        "",
    ]
    if eval_results:
        lines += ["## LIBERO results", "", "| task | success | episodes |", "|---|---|---|"]
        for key, task in eval_results.get("per_task", {}).items():
            lines.append(f"| {key} | {100 * task['success_rate']:.1f}% | {task['episodes']} |")
        overall = eval_results.get("overall", {})
        if overall:
            lines.append(
                f"| **overall** | **{100 * overall['success_rate']:.1f}%** | {overall['episodes']} |"
            )
        protocol = eval_results.get("protocol", {})
        if protocol.get("shortened"):
            lines.append(
                f"\nEpisodes were capped at {protocol['max_steps']} steps (standard {protocol['standard_max_steps']})."
            )
        lines.append("")
    if metrics:
        lines += ["## Last training metrics", "```json", json.dumps(metrics, indent=1), "```", ""]
    lines += ["## Training config", "```json", json.dumps(train_config, indent=1), "```"]
    path = folder / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path


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
