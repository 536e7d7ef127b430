"""scripts/plot_loss_curves.py: several experiments' loss curves in one PNG; a bad run argument is one line."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _results(path: Path, losses: list[float]) -> Path:
    curve = [[1 + 80 * i, loss] for i, loss in enumerate(losses)]
    training = {"loss_curve": curve, "loss_first_10": losses[0], "loss_last_10": losses[-1]}
    path.write_text(json.dumps({"training": training}))
    return path


def test_curves_of_several_runs_are_drawn_and_bad_arguments_named(tmp_path):
    from PIL import Image

    fast = _results(tmp_path / "fast.json", [6.7, 4.9, 3.3])
    codec = _results(tmp_path / "codec.json", [7.7, 4.0, 3.2])
    out = tmp_path / "curves.png"
    script = [sys.executable, str(ROOT / "scripts" / "plot_loss_curves.py")]
    done = subprocess.run(
        [*script, f"fast={fast}", f"actioncodec={codec}", "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out) and Image.open(out).size == (600, 350)
    bad = subprocess.run([*script, str(fast), "--out", str(out)], capture_output=True, text=True)
    assert bad.returncode == 2 and "expected LABEL=path/to/results.json" in bad.stderr.splitlines()[-1]
