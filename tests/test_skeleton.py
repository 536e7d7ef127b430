"""The walking skeleton at its smallest size: real simulator, real LeRobotDataset, real accelerate launch
with 2 processes, real rollouts."""

import json
import subprocess

import numpy as np
import pytest

from vla.demo import train_command

pytestmark = pytest.mark.libero


def test_record_tokenize_train_with_two_processes_and_evaluate(tmp_path):
    from vla.data.dataset import episode_action_chunks, load_chunked_dataset
    from vla.data.record import record_scripted_episodes
    from vla.eval.config import EvalConfig
    from vla.eval.runner import evaluate
    from vla.tokenizers import AutoActionTokenizer

    out = tmp_path
    # 1. data from the simulator, public schema
    record_scripted_episodes(out / "dataset", "libero_object", (0,), episodes_per_task=2, max_steps=12)
    info = json.loads((out / "dataset" / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 2 and info["total_frames"] == 24 and info["fps"] == 10
    assert info["features"]["image"]["shape"] == [256, 256, 3] and info["features"]["state"]["shape"] == [8]
    dataset = load_chunked_dataset(out / "dataset", 8)
    assert dataset[0]["task"] == "pick up the alphabet soup and place it in the basket"
    # 2. tokenizer
    chunks = episode_action_chunks(dataset, 8)
    AutoActionTokenizer.from_config("binning", horizon=8, action_dim=7).fit(chunks).save_pretrained(
        out / "tokenizer"
    )
    # 3. two real processes
    cmd = train_command(out, processes=2, steps=2)
    log = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert log.returncode == 0, log.stderr[-3000:]
    metrics = [json.loads(line) for line in (out / "train" / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 2 and all(np.isfinite(m["loss"]) for m in metrics)
    # 4 samples per process and step, 2 processes: the global batch is 8
    train_config = json.loads((out / "train" / "train_config.json").read_text())
    assert train_config["training"]["batch_size"] == 4
    checkpoint = out / "train" / "checkpoints" / "last"
    assert (checkpoint / "model.safetensors").is_file()
    # 4. evaluation from the checkpoint alone
    results = evaluate(
        EvalConfig(
            policy=str(checkpoint),
            task_ids=(0,),
            episodes_per_task=1,
            max_steps=8,
            output_dir=str(out / "eval"),
        )  # fmt: skip
    )
    assert results["overall"]["episodes"] == 1
    assert results["protocol"]["shortened"] and results["protocol"]["standard_max_steps"] == {
        "libero_object": 280
    }
    assert results["protocol"]["max_steps"] == {"libero_object": 8}
    assert results["eval_info"]["overall"]["n_episodes"] == 1
    saved = json.loads((out / "eval" / "results.json").read_text())
    assert saved["per_task"]["libero_object/0"]["episodes"] == 1
    videos = list((out / "eval" / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000
    episodes = (out / "eval" / "episodes" / "rank-00.jsonl").read_text().splitlines()
    assert json.loads(episodes[0])["steps"] == 8


def test_random_policy_scores_zero_in_a_short_rollout(tmp_path):
    from types import SimpleNamespace

    from vla.envs import get_benchmark
    from vla.eval.config import EvalConfig
    from vla.eval.policies import RandomPolicy
    from vla.eval.runner import evaluate

    # the policy: uniform in [-1, 1] per dimension, reproducible per (seed, episode seed), varying otherwise
    env = SimpleNamespace(benchmark=get_benchmark("libero"))  # the policy reads only the action size
    policy = RandomPolicy(seed=0)
    policy.reset(7)
    actions = np.concatenate([policy.act(env, None) for _ in range(200)])
    assert actions.shape == (200, 7) and actions.min() >= -1 and actions.max() <= 1
    assert np.allclose(actions.mean(0), 0, atol=0.15) and np.allclose(
        actions.std(0), 1 / np.sqrt(3), atol=0.1
    )
    policy.reset(7)
    np.testing.assert_array_equal(policy.act(env, None), actions[:1])
    policy.reset(8)
    assert not np.array_equal(policy.act(env, None), actions[:1])

    # the rollout: every step executed (no success ends it early), one action per chunk, reproducible
    def run(folder):
        config = EvalConfig(task_ids=(0,), policy="random", episodes_per_task=1, max_steps=10, video="none",
                            output_dir=str(folder))  # fmt: skip
        results = evaluate(config)
        rows = [json.loads(line) for line in (folder / "episodes" / "rank-00.jsonl").read_text().splitlines()]
        return results, rows

    results, rows = run(tmp_path / "a")
    assert results["overall"]["success_rate"] == 0.0 and results["overall"]["ci95"][0] == 0.0
    assert results["overall"]["episodes"] == 1
    assert not list((tmp_path / "a" / "videos").glob("*.mp4"))
    (row,) = rows
    assert row["success"] is False and row["steps"] == 10 and row["chunks"] == 10
    assert row["actions_per_chunk"] == {"1": 10} and row["invalid_chunks"] == 0
    _, again = run(tmp_path / "b")
    assert again[0]["final_state"] == row["final_state"]  # same seeds: the same random actions and scene
