import subprocess
import sys
import time

VLA = [sys.executable, "-m", "vla.cli"]


def run(*args, timeout=120):
    return subprocess.run([*VLA, *args], capture_output=True, text=True, timeout=timeout)


def test_help_is_fast_and_imports_nothing_heavy():
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from vla.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\n"
         "print('HEAVY', [m for m in ('torch', 'transformers', 'lerobot', 'libero') if m in sys.modules])"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert time.perf_counter() - start < 5
    assert "vla demo" in out.stdout and "HEAVY []" in out.stdout


def test_train_help_lists_every_recipe_key_with_its_default(capsys):
    import pytest

    from vla.cli import main
    from vla.config import config_keys
    from vla.train.__main__ import main as train_main
    from vla.train.config import TrainConfig

    keys = config_keys(TrainConfig)
    assert "training.lr: float = 0.001" in keys and "tokenizer.pretrained: str | None = None" in keys
    assert "policy.image_keys: tuple[str, ...] = ('image', 'wrist_image')" in keys
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = capsys.readouterr().out
    assert all(line in shown for line in keys)
    train_main(["--help"])  # python -m vla.train --help (under accelerate launch) shows the same keys
    shown = capsys.readouterr().out
    assert all(line in shown for line in keys)


def test_bad_inputs_give_one_line_errors(tmp_path):
    cases = [
        (
            ["eval", "--policy", "random", "--suite", "libero_100"],
            "suite='libero_100' is invalid: expected one of",
        ),
        (
            ["eval", "--policy", "random", "--tasks", "10"],
            "task_id=10 is invalid: libero_object has tasks 0..9",
        ),
        (
            ["eval", "--policy", "random", "--episodes-per-task", "51"],
            "episodes_per_task=51 is invalid: 1..50",
        ),
        (
            ["eval", "--policy", "random", "--dtype", "fp8"],
            "dtype='fp8' is invalid: expected one of 'auto', 'float32', 'bfloat16', 'float16'",
        ),
        (
            ["eval", "--policy", "random", "--suite", "libero_goal,libero_goal"],
            "suite='libero_goal,libero_goal' is invalid: each suite at most once",
        ),
        (
            ["eval", "--policy", "random", "--suite", "libero_10,libero_obj"],
            "suite='libero_obj' is invalid: expected one of",
        ),
        (["tokenizer", "fit", "--dataset", str(tmp_path), "--out", str(tmp_path / "t")], "no meta/info.json"),
        (["train", str(tmp_path / "missing.yaml")], "does not exist"),
        (["push", str(tmp_path), "--repo-id", "a/b"], "neither a policy checkpoint nor an action tokenizer"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr[-500:])
        assert "Traceback" not in result.stderr, args


def test_vla_log_lines_reach_stderr_from_the_entry_points(capsys, monkeypatch):
    import logging

    from vla._logging import configure_logging

    configure_logging()
    configure_logging()  # idempotent: one handler
    logging.getLogger("vla.model.policy").info("attention implementation: sdpa")
    logging.getLogger("transformers.modeling_utils").info("library chatter stays at its level")
    err = capsys.readouterr().err
    assert err.count("attention implementation: sdpa") == 1 and "chatter" not in err
