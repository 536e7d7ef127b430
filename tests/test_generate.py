"""`vla data generate`: parallel workers, resume after kill -9, identical datasets however they were made."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vla.config import ConfigError
from vla.data.record import MIN_DISTANCE_TO_EVAL_STATES, generate_episodes


def test_bad_generation_inputs_are_named(tmp_path):
    with pytest.raises(ConfigError, match="suite.*libero_nope"):
        generate_episodes(tmp_path / "d", suites=("libero_nope",))
    with pytest.raises(ConfigError, match="task"):
        generate_episodes(tmp_path / "d", suites=("libero_object",), task_ids=(10,))
    with pytest.raises(ConfigError, match="workers"):
        generate_episodes(tmp_path / "d", workers=0)
    with pytest.raises(ConfigError, match="controller"):
        generate_episodes(tmp_path / "d", controller="human")
    (tmp_path / "exists").mkdir()
    with pytest.raises(FileExistsError, match="overwrite"):
        generate_episodes(tmp_path / "exists")
    staging = tmp_path / "other.staging"
    staging.mkdir()
    (staging / "settings.json").write_text(json.dumps({"max_steps": 99, "controller": "reach"}))
    with pytest.raises(ValueError, match="same settings to resume"):
        generate_episodes(tmp_path / "other", max_steps=5)


def _frames(root: Path) -> tuple[np.ndarray, np.ndarray, list, np.ndarray | None]:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    table = LeRobotDataset("local/x", root=root).hf_dataset.with_format("numpy")
    images = np.stack([np.asarray(i) for i in table["image"]]) if "image" in table.column_names else None
    return np.stack(table["actions"]), np.asarray(table["episode_index"]), list(table["task_index"]), images


@pytest.mark.libero
def test_generator_resumes_after_kill_9_and_matches_an_uninterrupted_run(tmp_path):
    args = ["--suite", "libero_object", "--tasks", "0,1", "--episodes-per-task", "2", "--max-steps", "6"]
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "vla.cli", "data", "generate", "--out", str(out), "--workers", "2", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stderr=subprocess.PIPE)
    staging = tmp_path / "killed.staging"
    deadline = time.monotonic() + 240
    while not list(staging.rglob("*.npz")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the main process and its workers, mid-run
    proc.wait()
    staged = sorted(staging.rglob("*.npz"))
    assert 1 <= len(staged) < 4 and not out.exists()
    for file in staged:  # only whole episodes are staged
        with np.load(file) as data:
            assert data["actions"].shape == (6, 7)

    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # one progress bar per stage: neither lerobot's per-episode `Map` bars nor LIBERO's prints
    assert "writing LeRobotDataset" in resumed.stderr and "Map" not in resumed.stderr
    assert "using task orders" not in resumed.stdout + resumed.stderr
    report = json.loads((out / "meta" / "vla_generation.json").read_text())
    assert report["episodes_recorded_this_run"] == 4 - len(staged)
    assert report["overall"]["episodes"] == 4 and not staging.exists()
    # no leakage: every demonstration starts from its own seeded random placement, away from the 50
    # evaluation initial states
    assert report["init_states"] == "random"
    assert len({row["placement_seed"] for row in report["episodes"]}) == 4
    assert min(row["distance_to_eval_states"] for row in report["episodes"]) >= MIN_DISTANCE_TO_EVAL_STATES

    straight = generate_episodes(tmp_path / "straight", ("libero_object",), (0, 1), 2, max_steps=6, workers=1)
    actions, episodes, tasks, images = _frames(out)
    ref_actions, ref_episodes, ref_tasks, ref_images = _frames(straight)
    assert episodes.tolist() == ref_episodes.tolist() == [e for e in range(4) for _ in range(6)]
    assert tasks == ref_tasks and tasks[0] != tasks[-1]
    np.testing.assert_array_equal(actions, ref_actions)
    assert images.shape[0] == 24 and images.std() > 0  # rendered frames, written by the image threads
    np.testing.assert_array_equal(images, ref_images)


@pytest.mark.libero
def test_an_action_corpus_renders_nothing_and_records_the_same_actions(tmp_path):
    common = dict(
        suites=("libero_object",), task_ids=(0,), episodes_per_task=1, max_steps=5, action_noise=0.1
    )
    corpus = generate_episodes(tmp_path / "corpus", images=False, **common)
    rendered = generate_episodes(tmp_path / "rendered", image_size=64, **common)
    info = json.loads((corpus / "meta" / "info.json").read_text())
    assert "image" not in info["features"] and "wrist_image" not in info["features"]
    assert {"state", "actions"} <= set(info["features"])
    assert json.loads((corpus / "meta" / "vla_generation.json").read_text())["images"] is False
    # rendering never touches the simulation: the same seeded episode, image or not
    corpus_actions, _, _, no_images = _frames(corpus)
    rendered_actions, _, _, images = _frames(rendered)
    np.testing.assert_array_equal(corpus_actions, rendered_actions)
    assert no_images is None and images.shape == (5, 64, 64, 3)
    # tokenizers fit on it; what needs cameras says so
    from vla.data.dataset import DatasetError, load_chunked_dataset
    from vla.train.tokenizer import fit_action_tokenizer

    tokenizer = fit_action_tokenizer("binning", load_chunked_dataset(corpus, 4, images=False), 4)
    assert tokenizer.is_fitted
    with pytest.raises(DatasetError, match="image"):
        load_chunked_dataset(corpus, 4)


@pytest.mark.libero
def test_no_episode_kept_is_one_line_that_says_where_the_episodes_are(tmp_path):
    from vla.data.dataset import DatasetError

    with pytest.raises(DatasetError, match="no episode was kept.*staged outcomes stay in"):
        generate_episodes(tmp_path / "none", ("libero_object",), (0,), 1, max_steps=2, successful_only=True)


def test_episodes_are_recorded_in_rounds_over_every_task(tmp_path, monkeypatch):
    """A partial run covers every task: 5 episodes of each task, then the next 5 of each."""
    import vla.data.record as record

    order = []

    class Enough(Exception):
        pass

    def fake(job, staging, settings):
        order.append((job.task_id, job.episode))
        if len(order) == 14:
            raise Enough
        return {"success": False}

    monkeypatch.setattr(record, "record_episode", fake)
    with pytest.raises(Enough):
        generate_episodes(tmp_path / "d", ("libero_object",), (0, 1), 7, images=False)
    assert order == [(0, e) for e in range(5)] + [(1, e) for e in range(5)] + [(0, 5), (0, 6), (1, 5), (1, 6)]
