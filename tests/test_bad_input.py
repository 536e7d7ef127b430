"""Bad input a new user meets, each answered by one line that names the value and what is allowed
(README "Bad input and faults")."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from vla.cli import main
from vla.config import ConfigError
from vla.errors import UserError, is_user_error
from vla.hub import BrokenArtifactError
from vla.tokenizers import ActionCodecTokenizer, AutoActionTokenizer, BinningActionTokenizer


def _error_line(argv, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    return str(stop.value.code)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("{n_bins: 3", "is not valid JSON"),
        ('{"n_bins": 3, "n_bins": 4}', "gives n_bins more than once"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_tokenizer_options_json_is_checked_before_any_work(tmp_path, capsys, options, expected):
    argv = [
        "tokenizer",
        "fit",
        "--dataset",
        str(tmp_path / "none"),
        "--options",
        options,
        "--out",
        str(tmp_path),
    ]
    message = _error_line(argv, capsys)
    assert message.startswith("error: --options") and expected in message and "\n" not in message


def _binning(folder):
    chunks = np.random.default_rng(0).uniform(-1, 1, (32, 4, 7))
    BinningActionTokenizer(horizon=4, n_bins=8).fit(chunks).save_pretrained(folder)
    return folder


def test_truncated_or_unknown_tokenizer_files_are_named(tmp_path):
    folder = _binning(tmp_path / "binning")
    config = folder / "action_tokenizer.json"
    text = config.read_text()
    config.write_text(text[: len(text) // 2])
    with pytest.raises(BrokenArtifactError, match="action_tokenizer.json cannot be read.*truncated"):
        AutoActionTokenizer.from_pretrained(folder)
    payload = json.loads(text)
    config.write_text(json.dumps({**payload, "tokenizer_type": "mystery"}))
    with pytest.raises(BrokenArtifactError, match="unknown tokenizer_type 'mystery'"):
        AutoActionTokenizer.from_pretrained(folder)
    with pytest.raises(ConfigError, match="tokenizer_type='nope' is invalid: expected one of"):
        AutoActionTokenizer.from_config("nope")
    assert issubclass(BrokenArtifactError, UserError) and issubclass(ConfigError, UserError)
    assert is_user_error(BrokenArtifactError("x")) and not is_user_error(ValueError("x"))


def test_truncated_actioncodec_weights_are_named(tmp_path):
    chunks = np.cumsum(np.random.default_rng(0).normal(0, 0.1, (64, 5, 7)), axis=1)
    tiny = dict(horizon=4, num_tokens=2, codebook_size=8, dim=8, depth=1, heads=1, latent_dim=4, steps=2,
                batch_size=16, kmeans_init=False)  # fmt: skip
    ActionCodecTokenizer(**tiny).fit(chunks[:, :4], chunks[:, 1:]).save_pretrained(tmp_path / "codec")
    weights = tmp_path / "codec" / "actioncodec.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(BrokenArtifactError, match="actioncodec.safetensors cannot be read"):
        AutoActionTokenizer.from_pretrained(tmp_path / "codec")


@pytest.mark.parametrize("rank", ["0", "1"])
def test_under_accelerate_only_rank_0_prints_the_one_line(tmp_path, rank):
    env = {**os.environ, "RANK": rank, "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable,
        "-m",
        "vla.eval",
        "--policy",
        str(tmp_path / "missing"),
        "--out",
        str(tmp_path / "e"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert (lines[-1].startswith("error: ") and len(lines) == 1) if rank == "0" else lines == []


def test_through_the_launcher_bad_input_is_one_line_and_a_killed_rank_is_named(tmp_path):
    """``python -m vla.launch`` (accelerate launch's arguments; what vla experiment and demo use) ends with
    the rank's one line: no ChildFailedError traceback from the launcher after it."""
    import socket

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "vla.launch", "--config_file", "recipes/accelerate/cpu2.yaml"]
    # with the default port taken, as when another training runs on the machine: still the one line
    with socket.socket() as taken:
        try:
            taken.bind(("127.0.0.1", 29500))
            taken.listen()
        except OSError:  # already taken by something else: the same situation
            pass
        bad = subprocess.run([*launch, "-m", "vla.train", "recipes/tiny_cpu.yaml", "training.lr=-1"],
                             env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.splitlines() == ["error: training.lr=-1.0 is invalid: must be > 0"], bad.stderr[-3000:]
    (tmp_path / "die_now.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([*launch, "-m", "die_now"], env={**env, "PYTHONPATH": str(tmp_path)},
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert killed.returncode == 128 + 9 and "Traceback" not in killed.stderr
    assert re.fullmatch(
        r"error: rank \d \(pid \d+\) was killed by SIGKILL before it could say why: the kernel's "
        r"out-of-memory killer sends SIGKILL",
        killed.stderr.strip().splitlines()[-1],
    ), killed.stderr[-3000:]


def test_unwritable_or_full_output_folders_are_refused_before_any_work(tmp_path, capsys, monkeypatch):
    import shutil
    from collections import namedtuple

    from vla.config import check_output_folder

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="out='.*a-file/sub' cannot be written"):
        check_output_folder("out", blocker / "sub")
    # the CLI refuses before it reads the dataset (a fit would otherwise be lost at its end)
    argv = ["tokenizer", "fit", "--dataset", str(tmp_path / "none"), "--out", str(blocker / "sub" / "tok")]
    assert "cannot be written" in _error_line(argv, capsys)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 2**20, 2**20))
    with pytest.raises(ConfigError, match="has 1 MB free on its disk, under the 200 MB"):
        check_output_folder("training.output_dir", tmp_path / "run")


def test_a_full_disk_is_one_line_that_says_the_work_is_kept(tmp_path, capsys, monkeypatch):
    import errno

    import vla.cli

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "episode-001.npz"))

    monkeypatch.setattr(vla.cli, "cmd_data_generate", full)
    message = _error_line(["data", "generate", "--out", str(tmp_path / "d")], capsys)
    assert message.startswith("error: the disk is full writing ") and "episode-001.npz" in message
    assert "rerun the same command" in message and "\n" not in message

    def other(args):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(vla.cli, "cmd_data_generate", other)
    with pytest.raises(PermissionError):  # not a disk-full error: not disguised as one
        main(["data", "generate", "--out", str(tmp_path / "d")])
