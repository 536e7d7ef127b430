"""Vectorized evaluation, rendering only what the policy reads, and the lerobot policy adapter."""

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vla.eval.config import EvalConfig
from vla.eval.results import read_episodes
from vla.eval.rollout import Rendering, rendering_for
from vla.eval.runner import evaluate

ROOT = Path(__file__).resolve().parents[1]


def _rows(out: Path) -> dict:
    """Episode rows without their wall-clock time, the one field that may differ between runs."""
    return {key: {f: v for f, v in row.items() if f != "seconds"} for key, row in read_episodes(out).items()}


@pytest.mark.libero
@pytest.mark.parametrize("policy", ["expert", pytest.param("random", marks=pytest.mark.slow)])
def test_vectorized_run_equals_one_process(tmp_path, policy):
    runs = {}
    for num_envs in (1, 2):
        out = tmp_path / str(num_envs)
        results = evaluate(EvalConfig(task_ids=(0,), policy=policy, episodes_per_task=2, max_steps=80, video="none",
                                      output_dir=str(out), num_envs=num_envs))  # fmt: skip
        assert results["this_run"]["num_envs"] == num_envs
        runs[num_envs] = _rows(out)
    assert len(runs[1]) == 2 and runs[1] == runs[2]
    first, second = runs[1].values()
    assert first["final_state"] != second["final_state"]  # two different episodes, not one twice
    assert first["cameras"] == [] and first["image_size"] is None  # state-only policies render nothing


@pytest.mark.libero
def test_workers_run_several_suites_as_one_process_does(tmp_path):
    runs = {}
    for num_envs in (1, 2):
        out = tmp_path / str(num_envs)
        results = evaluate(EvalConfig(policy="random", suite="libero_goal,libero_spatial", task_ids=(1,),
                                      episodes_per_task=1, max_steps=4, video="none", output_dir=str(out),
                                      num_envs=num_envs))  # fmt: skip
        assert list(results["per_suite"]) == ["libero_goal", "libero_spatial"]
        runs[num_envs] = _rows(out)
    assert runs[1].keys() == {("libero_goal", 1, 0), ("libero_spatial", 1, 0)} and runs[1] == runs[2]


@pytest.mark.libero
def test_only_the_cameras_the_policy_reads_are_rendered():
    from vla.envs.libero.env import LiberoEnv
    from vla.eval.policies import ExpertPolicy

    expert = ExpertPolicy()
    assert rendering_for(EvalConfig(policy="expert", video="none"), expert) == Rendering((), 256)
    assert rendering_for(EvalConfig(policy="expert", video="failures"), expert) == Rendering(("image",), 256)
    with LiberoEnv("libero_object", 0, cameras=()) as env:
        robo = env._env.env
        assert not robo.has_offscreen_renderer and not robo.use_camera_obs
        assert robo.sim._render_context_offscreen is None
        assert set(env.reset(0)) == {"state"}
    with LiberoEnv("libero_object", 0, image_size=64, cameras=("wrist_image",)) as env:
        assert env._env.env.camera_names == ["robot0_eye_in_hand"]
        obs = env.reset(0)
        assert set(obs) == {"wrist_image", "state"} and obs["wrist_image"].shape == (64, 64, 3)


@pytest.mark.libero
def test_rendering_on_some_steps_only_changes_no_image_and_no_state():
    from vla.envs.libero.env import LiberoEnv

    actions = np.random.default_rng(0).uniform(-1, 1, (12, 7))
    with LiberoEnv("libero_object", 0, image_size=64) as env:
        always = [env.reset(3)] + [env.step(a)[0] for a in actions]
        sparse = [env.reset(3, cameras=("wrist_image",))]
        sparse += [env.step(a, cameras=("image",) if i % 4 == 3 else ())[0] for i, a in enumerate(actions)]
    assert set(sparse[0]) == {"wrist_image", "state"} and sum("image" in obs for obs in sparse) == 3
    for full, part in zip(always, sparse, strict=True):
        for name in part:  # bit for bit
            np.testing.assert_array_equal(full[name], part[name])


def test_lerobot_policy_declares_its_cameras_and_size(tmp_path):
    from vla.eval.policies.lerobot import LerobotPolicy
    from vla.testing import write_tiny_lerobot_policy

    folder = write_tiny_lerobot_policy(tmp_path / "act", image_size=32, cameras=("image",))
    policy = LerobotPolicy(str(folder))
    assert policy.cameras == ("image",) and policy.declared_image_size == 32 and not policy.runs_in_env_worker
    # rendered as lerobot-eval renders LIBERO (360 px) unless told
    assert policy.image_size == 360 and not policy.use_amp
    assert rendering_for(EvalConfig(video="none"), policy) == Rendering(("image",), 360)
    assert rendering_for(EvalConfig(video="none", image_size=48), policy) == Rendering(("image",), 48)


def test_lerobot_policy_is_seeded_as_lerobot_eval_seeds(tmp_path):
    import torch

    from vla.eval.policies import load_rollout_policy
    from vla.eval.rollout import LEROBOT_START_SEED
    from vla.testing import write_tiny_lerobot_policy

    folder = write_tiny_lerobot_policy(tmp_path / "act", image_size=32, cameras=("image",))
    load_rollout_policy(f"lerobot:{folder}", seed=3, device="cpu")
    assert torch.initial_seed() == LEROBOT_START_SEED + 3  # lerobot-eval --seed=1003 seeds the same way
    draws = torch.rand(4)
    load_rollout_policy(f"lerobot:{folder}", seed=3, device="cpu")
    assert torch.equal(torch.rand(4), draws)  # a policy that samples draws the same numbers on every run


def test_lerobot_channel_last_image_features_are_read(tmp_path):
    import json

    from vla.eval.policies.lerobot import LerobotPolicy
    from vla.testing import write_tiny_lerobot_policy

    folder = write_tiny_lerobot_policy(tmp_path / "act", image_size=32, cameras=("image",))
    config = json.loads((folder / "config.json").read_text())
    config["input_features"]["observation.images.image"]["shape"] = [32, 32, 3]  # (H, W, C)
    (folder / "config.json").write_text(json.dumps(config))
    policy = LerobotPolicy(str(folder))
    assert policy.cameras == ("image",) and policy.declared_image_size == 32


def test_lerobot_paths_that_hold_no_lerobot_policy_are_named(tmp_path):
    from vla.eval.policies.lerobot import LerobotPolicy

    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="is not a lerobot policy folder: it has no config.json"):
        LerobotPolicy(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="no such folder, and it is not a Hub repo id"):
        LerobotPolicy(str(tmp_path / "missing" / "act"))


def test_lerobot_adapter_feeds_the_policy_what_lerobot_eval_would(tiny_lerobot_policy):
    """Our observations through the adapter give the same actions as lerobot-eval's own pipeline."""
    import torch
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.envs.configs import LiberoEnv as LiberoEnvConfig
    from lerobot.envs.utils import preprocess_observation
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors

    from vla.envs.libero.env import quat_to_axis_angle
    from vla.eval.policies.lerobot import LerobotPolicy

    rng = np.random.default_rng(0)
    n = 2  # two environments, batched
    agent = rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)  # raw renders, not rotated yet
    wrist = rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    pos, gripper = rng.normal(size=(n, 3)), rng.uniform(0, 0.04, (n, 2))
    quat = rng.normal(size=(n, 4))
    quat = quat / np.linalg.norm(quat, axis=1, keepdims=True) * np.sign(quat[:, 3:])  # x, y, z, w with w > 0
    raw = {
        "pixels": {"image": agent, "image2": wrist},
        "robot_state": {
            "eef": {"pos": pos, "quat": quat, "mat": np.tile(np.eye(3), (n, 1, 1))},
            "gripper": {"qpos": gripper, "qvel": np.zeros((n, 2))},
            "joints": {"pos": np.zeros((n, 7)), "vel": np.zeros((n, 7))},
        },
    }
    # lerobot-eval's rollout(): env observation -> env pre-processor -> policy pre-processor -> select_action
    path = str(tiny_lerobot_policy)
    config = PreTrainedConfig.from_pretrained(path)
    policy = get_policy_class(config.type).from_pretrained(path, config=config)
    preprocessor, postprocessor = make_pre_post_processors(config, pretrained_path=path)
    env_preprocessor, _ = LiberoEnvConfig(task="libero_object").get_env_processors()
    batch = preprocess_observation(raw)
    batch["task"] = ["pick up the soup"] * n
    batch = preprocessor(env_preprocessor(batch))
    policy.reset()
    with torch.inference_mode():
        expected = np.stack([postprocessor(policy.select_action(batch)).numpy() for _ in range(5)], axis=1)

    ours = [{"image": agent[i, ::-1, ::-1], "wrist_image": wrist[i, ::-1, ::-1], "task": "pick up the soup",
             "state": np.concatenate([pos[i], quat_to_axis_angle(quat[i]), gripper[i]]).astype(np.float32)}
            for i in range(n)]  # fmt: skip
    chunks, valid = LerobotPolicy(path).predict(ours)
    assert (
        chunks.shape == (n, 5, 7) and valid.all()
    )  # n_action_steps of each chunk, as select_action executes
    np.testing.assert_allclose(chunks, expected, atol=1e-5)


@pytest.mark.libero
def test_a_lerobot_policy_runs_an_episode(tmp_path, tiny_lerobot_policy):
    results = evaluate(EvalConfig(task_ids=(0,), policy=f"lerobot:{tiny_lerobot_policy}", episodes_per_task=1, max_steps=12,
                                  video="none", output_dir=str(tmp_path), num_envs=1, image_size=64))  # fmt: skip
    row = read_episodes(tmp_path)[("libero_object", 0, 0)]
    assert row["steps"] == 12 and "errors" not in row and results["overall"]["errors"] == 0
    assert row["cameras"] == ["image", "wrist_image"] and row["image_size"] == 64  # as told
    assert results["policy"]["sha256"] and results["protocol"]["image_size"] == [64]


@pytest.mark.libero
def test_our_checkpoint_runs_batched_over_two_simulators(tmp_path, tiny_policy, monkeypatch):
    from vla.model.policy import VLAPolicy

    policy, _ = tiny_policy
    policy.save_pretrained(tmp_path / "checkpoint")
    batch_sizes, broken = [], [True]
    predict = VLAPolicy.predict_action_chunk

    def counting(self, observations, return_valid=False):
        batch_sizes.append(len(observations))
        if broken[0]:
            raise RuntimeError("out of GPU memory")  # every batch of the first run fails: policy errors
        return predict(self, observations, return_valid=return_valid)

    monkeypatch.setattr(VLAPolicy, "predict_action_chunk", counting)
    out = tmp_path / "eval"
    config = EvalConfig(task_ids=(0,), policy=str(tmp_path / "checkpoint"), episodes_per_task=2, max_steps=6,
                        video="first", output_dir=str(out), num_envs=2)  # fmt: skip
    results = evaluate(config)
    rows = read_episodes(out)
    assert len(rows) == 2 and results["overall"]["policy_errors"] == 2 and sum(batch_sizes) == 2
    assert results["overall"]["simulator_errors"] == results["overall"]["simulator_retries"] == 0
    for row in rows.values():  # recorded at once, no retry
        assert row["error_kind"] == "policy" and len(row["errors"]) == 1 and row["steps"] == 0
        assert "the policy failed in the main process" in row["error"] and "out of GPU memory" in row["error"]
    broken[0], batch_sizes[:] = False, []
    results = evaluate(config)  # the resume runs the failed episodes again
    rows = read_episodes(out)
    assert len(rows) == 2 and results["overall"]["errors"] == 0
    for row in rows.values():
        assert row["steps"] == 6 and row["cameras"] == ["image", "wrist_image"] and row["image_size"] == 256
    assert max(batch_sizes) == 2  # one forward pass served both simulators
    assert [p.name[:24] for p in (out / "videos").glob("*.mp4")] == ["libero_object_task0_ep00"]


@pytest.mark.libero
@pytest.mark.slow
def test_a_killed_vectorized_run_resumes_and_leaves_no_process_behind(tmp_path):
    import psutil

    out = tmp_path / "run"
    args = [
        "--policy",
        "random",
        "--tasks",
        "0",
        "--episodes-per-task",
        "4",
        "--max-steps",
        "150",
        "--video",
        "none",
    ]
    proc = subprocess.Popen([sys.executable, "-m", "vla.eval", *args, "--num-envs", "2", "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    rank_file = out / "episodes" / "rank-00.jsonl"
    deadline = time.monotonic() + 400
    while not (rank_file.exists() and rank_file.read_text().count("\n") >= 1):
        assert proc.poll() is None and time.monotonic() < deadline, (
            "the run ended or stalled before an episode"
        )
        time.sleep(0.1)
    descendants = psutil.Process(proc.pid).children(recursive=True)
    assert len(descendants) >= 3  # the fork server and two simulator workers (at least)
    proc.kill()
    proc.wait()
    _, alive = psutil.wait_procs(descendants, timeout=60)
    assert not alive, f"left behind: {alive}"  # workers and fork server exit when the main process dies
    before = read_episodes(out)
    assert 1 <= len(before) < 4
    results = evaluate(EvalConfig(task_ids=(0,), policy="random", episodes_per_task=4, max_steps=150, video="none",
                                  output_dir=str(out), num_envs=2))  # fmt: skip
    after = read_episodes(out)
    assert len(after) == 4 and all(after[key] == row for key, row in before.items())  # not rerun
    assert results["overall"]["episodes"] == 4 and results["this_run"]["episodes"] == 4 - len(before)


@pytest.mark.libero
@pytest.mark.slow
def test_a_dead_worker_is_replaced_and_its_episode_retried(tmp_path, capfd):
    import psutil

    def kill_one_worker():
        me, deadline = psutil.Process(), time.monotonic() + 300
        while time.monotonic() < deadline:
            workers = [c for child in me.children() for c in child.children()]  # the fork server's children
            if len(workers) == 2:
                time.sleep(2.0)  # it is building its environment or stepping an episode
                workers[0].kill()
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    results = evaluate(EvalConfig(task_ids=(0,), policy="random", episodes_per_task=3, max_steps=30, video="none",
                                  output_dir=str(tmp_path), num_envs=2))  # fmt: skip
    killer.join(timeout=5)
    rows = read_episodes(tmp_path)
    assert len(rows) == 3 and results["overall"]["episodes"] == 3
    retried = [row for row in rows.values() if row.get("errors")]
    assert len(retried) == 1 and "died (killed by SIGKILL)" in retried[0]["errors"][0]
    assert all(row["steps"] == 30 and "error" not in row for row in rows.values())  # the retry succeeded
    assert "starting a new worker" in capfd.readouterr().err


def _schema(value):
    """The shape of a JSON value: keys of dicts, the first element's schema for lists, type names."""
    if isinstance(value, dict):
        return {key: _schema(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_schema(value[0])] if value else []
    return type(value).__name__


def test_eval_info_follows_lerobot_evals_schema_key_for_key():
    from vla.eval.results import lerobot_eval_info

    rows = [{"suite": "libero_object", "task_id": t, "episode": e, "success": e == 0, "steps": 3,
             **({"video": f"videos/t{t}e{e}.mp4"} if e == 0 else {})} for t in (0, 2) for e in range(2)]  # fmt: skip
    info = lerobot_eval_info(rows, "out", eval_s=8.0, episodes_run=4)
    assert [(t["task_group"], t["task_id"]) for t in info["per_task"]] == [
        ("libero_object", 0),
        ("libero_object", 2),
    ]
    assert info["per_task"][0]["metrics"] == {"sum_rewards": [1.0, 0.0], "max_rewards": [1.0, 0.0],
                                              "successes": [True, False], "video_paths": ["out/videos/t0e0.mp4"],
                                              "predicted_video_paths": []}  # fmt: skip
    assert info["per_group"]["libero_object"]["pc_success"] == 50.0
    assert list(info["overall"]) == ["avg_sum_reward", "avg_max_reward", "pc_success", "n_episodes", "eval_s",
                                     "eval_ep_s", "video_paths", "predicted_video_paths"]  # fmt: skip
    assert info["overall"]["avg_max_reward"] == 0.5 and info["overall"]["eval_ep_s"] == 2.0


@pytest.mark.libero
@pytest.mark.slow
def test_eval_info_json_matches_the_file_lerobot_eval_writes(tmp_path, tiny_lerobot_policy):
    """lerobot-eval and we roll out the same tiny ACT policy for one short episode: same schema, same numbers."""
    import json
    import os

    from vla.envs.libero.setup import ensure_libero

    ensure_libero()  # lerobot-eval needs LIBERO's config and MuJoCo's backend in its environment too
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    theirs_dir = tmp_path / "lerobot"
    subprocess.run([str(Path(sys.executable).parent / "lerobot-eval"), f"--policy.path={tiny_lerobot_policy}",
                    "--policy.device=cpu", "--env.type=libero", "--env.task=libero_object", "--env.task_ids=[0]",
                    "--env.episode_length=8", "--eval.n_episodes=1", "--eval.batch_size=1",
                    "--env.observation_height=64", "--env.observation_width=64", f"--output_dir={theirs_dir}",
                    "--seed=1000"], check=True, cwd=ROOT, env=env, capture_output=True, timeout=900)  # fmt: skip
    theirs = json.loads((theirs_dir / "eval_info.json").read_text())
    evaluate(EvalConfig(task_ids=(0,), policy=f"lerobot:{tiny_lerobot_policy}", episodes_per_task=1, max_steps=8,
                        video="all", output_dir=str(tmp_path / "ours"), num_envs=1))  # fmt: skip
    ours = json.loads((tmp_path / "ours" / "eval_info.json").read_text())
    assert _schema(ours) == _schema(theirs)
    for info in (ours, theirs):  # random weights, 8 steps: no success
        assert info["overall"]["n_episodes"] == 1 and info["overall"]["pc_success"] == 0.0
        assert info["overall"]["avg_sum_reward"] == info["overall"]["avg_max_reward"] == 0.0
        assert [(t["task_group"], t["task_id"]) for t in info["per_task"]] == [("libero_object", 0)]
        assert Path(info["overall"]["video_paths"][0]).suffix == ".mp4"


def test_a_policy_reading_a_camera_no_benchmark_renders_is_refused_in_one_line():
    from vla.errors import is_user_error
    from vla.eval.policies.base import policy_cameras

    assert policy_cameras(("image", "wrist_image"), "checkpoint c") == ("image", "wrist_image")
    with pytest.raises(
        ValueError, match=r"checkpoint c reads image features \['top'\], which no registered"
    ) as err:
        policy_cameras(("image", "top"), "checkpoint c")
    assert is_user_error(err.value)  # `vla eval` ends with this message on one line, no traceback
