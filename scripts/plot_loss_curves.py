"""Overlay the training loss curves of several `vla experiment` runs (their results.json) in one PNG.

    python scripts/plot_loss_curves.py --out docs/experiments/loss_curves.png \\
        fast=outputs/experiments/libero_object_task0_h20_fast_100_p16/results.json \\
        actioncodec=outputs/experiments/libero_object_task0_h20_actioncodec_100_p16/results.json

Each curve is the run's action-token cross-entropy (results.json's ``training.loss_curve``, about 50 points).
Tokenizers with other vocabularies and token counts per chunk have losses on other scales: compare the
shapes (how fast and how far each falls), not the heights.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def plot_loss_curves(runs: dict[str, Path], path: Path, title: str = "") -> None:
    """``runs``: label -> results.json of a finished experiment; one line per run, loss against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, results in runs.items():
        training = json.loads(Path(results).read_text())["training"]
        steps, losses = zip(*training["loss_curve"], strict=True)
        ax.plot(
            steps,
            losses,
            label=f"{label} ({training['loss_first_10']:.2f} -> {training['loss_last_10']:.2f})",
        )
    ax.set_xlabel("training step")
    ax.set_ylabel("action-token loss")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="LABEL=path/to/results.json, one per run")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    runs = {}
    for item in args.runs:
        label, sep, file = item.partition("=")
        if not sep or not Path(file).is_file():
            parser.error(
                f"run {item!r} is invalid: expected LABEL=path/to/results.json of a finished experiment"
            )
        runs[label] = Path(file)
    plot_loss_curves(runs, args.out, args.title)
    print(args.out)


if __name__ == "__main__":
    main()
