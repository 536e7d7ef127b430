"""Exact resume (1 and 2 processes), fine-tuning modes, trackers and pushing checkpoints."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.test_train import config_for
from vla.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]


def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return load_file(checkpoint / "model.safetensors")


def assert_identical(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    different = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not different, different[:5]


def assert_resumed_to(straight: dict[str, torch.Tensor], run: Path, kept_step: int) -> None:
    """The resumed run's last weights are the uninterrupted run's (``straight``), and differ from the kept
    checkpoint's: the steps after it ran."""
    resumed = weights(run / "checkpoints/last")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    base = weights(run / f"checkpoints/step-{kept_step:06d}")
    assert any(not torch.equal(base[k], resumed[k]) for k in base)


def interrupt_after(run: Path, kept_step: int = 2, last_step: int = 4) -> None:
    """Make a finished run look like one killed after its ``kept_step`` checkpoint."""
    ckpts = run / "checkpoints"
    shutil.rmtree(ckpts / f"step-{last_step:06d}")
    (ckpts / "last").unlink()
    (ckpts / "last").symlink_to(f"step-{kept_step:06d}")


def test_resume_gives_identical_weights(synthetic_dataset, tmp_path):
    common = ["training.report_to=[]", "training.lr=3e-3"]
    straight = train(config_for(synthetic_dataset, tmp_path / "straight", "training.steps=4", *common))
    train(
        config_for(
            synthetic_dataset, tmp_path / "resumed", "training.steps=4", "training.save_every=2", *common
        )
    )
    interrupt_after(tmp_path / "resumed")
    resumed = train(
        config_for(
            synthetic_dataset, tmp_path / "resumed", "training.steps=4", "training.resume=last", *common
        )
    )
    assert_identical(straight, resumed)
    # and the check is sensitive: another data seed gives other weights
    other = train(
        config_for(synthetic_dataset, tmp_path / "other", "training.steps=4", "training.seed=1", *common)
    )
    with pytest.raises(AssertionError):
        assert_identical(straight, other)
    # the killed run's rows past step 2 are dropped; the resumed rows are the straight run's
    rows = [json.loads(line) for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    straight_rows = [
        json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert [r["loss"] for r in rows] == [r["loss"] for r in straight_rows]


def test_resume_across_an_epoch_boundary_with_accumulation_gives_identical_weights(
    synthetic_dataset, tmp_path
):
    """10 micro-batches per epoch and grad_accum=3: accelerate closes the accumulation at the epoch's end,
    so an epoch is 4 optimizer steps (3+3+3+1 micro-batches), not 10/3. Resuming at step 5 (inside the
    second epoch) must continue on the batch an uninterrupted run would see."""
    from vla.train.trainer import data_position

    assert data_position(4, 10, 3) == (1, 0) and data_position(5, 10, 3) == (1, 3)
    common = ["training.report_to=[]", "training.lr=3e-3", "training.grad_accum=3", "training.steps=7"]
    straight = train(config_for(synthetic_dataset, tmp_path / "straight", *common))
    train(config_for(synthetic_dataset, tmp_path / "resumed", "training.save_every=5", *common))
    interrupt_after(tmp_path / "resumed", kept_step=5, last_step=7)
    resumed = train(config_for(synthetic_dataset, tmp_path / "resumed", "training.resume=last", *common))
    assert_identical(straight, resumed)
    rows = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    resumed_rows = [
        json.loads(line) for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["loss"] for r in resumed_rows[-2:]] == [r["loss"] for r in rows[-2:]]


def test_resume_keeps_the_checkpoints_action_tokenizer_and_refuses_other_settings(
    synthetic_dataset, tmp_path
):
    from vla.config import ConfigError

    common = ["training.report_to=[]", "training.steps=3"]
    train(config_for(synthetic_dataset, tmp_path, "training.save_every=2", *common))
    interrupt_after(tmp_path, kept_step=2, last_step=3)
    # a tokenizer that a refit on this data would not give back: wider action ranges
    saved = tmp_path / "checkpoints/step-000002/action_tokenizer/action_tokenizer.json"
    data = json.loads(saved.read_text())
    data["action_stats"]["min"] = [v - 0.25 for v in data["action_stats"]["min"]]
    data["action_stats"]["max"] = [v + 0.25 for v in data["action_stats"]["max"]]
    saved.write_text(json.dumps(data, indent=1))
    last = train(config_for(synthetic_dataset, tmp_path, "training.resume=last", *common))
    resumed = json.loads((last / "action_tokenizer/action_tokenizer.json").read_text())
    assert resumed["action_stats"]["min"] == data["action_stats"]["min"]
    assert resumed["action_stats"]["max"] == data["action_stats"]["max"]
    with pytest.raises(ConfigError, match=r"tokenizer=.*n_bins': 16.*trained with tokenizer=.*n_bins': 32"):
        train(config_for(synthetic_dataset, tmp_path, "training.resume=last", "tokenizer.options.n_bins=16",
                         *common))  # fmt: skip


def test_the_first_step_learns_and_the_logged_lr_is_the_one_used(synthetic_dataset, tmp_path, tiny_model_dir):
    """Warmup starts at lr / (warmup + 1), not 0: one step with warmup_steps=2 changes the weights."""
    last = train(config_for(synthetic_dataset, tmp_path, "training.steps=1", "training.warmup_steps=2",
                            "training.report_to=[]", "training.lr=1e-3"))  # fmt: skip
    row = json.loads((tmp_path / "metrics.jsonl").read_text())
    assert row["step"] == 1 and row["lr"] == pytest.approx(1e-3 / 3)
    base, trained = load_file(tiny_model_dir / "model.safetensors"), weights(last)
    layers = [k for k in base if "text_model.layers" in k]
    assert layers and all(not torch.equal(base[k], trained[k]) for k in layers if k.endswith("proj.weight"))


def test_a_non_empty_output_dir_is_refused_unless_resumed_or_overwritten(synthetic_dataset, tmp_path):
    from vla.cli import main
    from vla.config import ConfigError

    common = ["training.report_to=[]", "training.steps=1"]
    train(config_for(synthetic_dataset, tmp_path, *common))
    overrides = [f"data.dataset={synthetic_dataset}", f"training.output_dir={tmp_path}", "policy.horizon=4",
                 "tokenizer.options.n_bins=32", *common]  # fmt: skip
    with pytest.raises(SystemExit) as refused:
        main(["train", "recipes/tiny_cpu.yaml", *overrides])
    message = str(refused.value)
    assert message.startswith(f"error: training.output_dir='{tmp_path}' is not empty (checkpoints, ")
    assert "training.resume=last" in message and "training.overwrite=true" in message and "\n" not in message
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1]
    train(config_for(synthetic_dataset, tmp_path, "training.overwrite=true", "training.report_to=[]",
                     "training.steps=2"))  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]  # a fresh run, not appended to the old one
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*")) == ["step-000002"]
    with pytest.raises(
        ConfigError, match="training.overwrite=True is invalid: overwrite would delete the run"
    ):
        config_for(synthetic_dataset, tmp_path, "training.overwrite=true", "training.resume=last")


def test_a_second_live_run_in_the_same_folder_is_refused_before_it_touches_anything(
    synthetic_dataset, tmp_path
):
    import os

    from vla.train.trainer import LOCK_FILE, check_output_dir, lock_output_dir

    live = lock_output_dir(tmp_path)  # what the main process of a live run holds
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
    second = config_for(synthetic_dataset, tmp_path, "training.overwrite=true", "training.report_to=[]",
                        "training.steps=1")  # fmt: skip
    with pytest.raises(FileExistsError, match=f"in use by a live training run \\(pid {os.getpid()}\\)"):
        train(second)
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 1}\n'  # overwrite did not clear it
    live.close()  # the run ended (or was killed): the lock goes with it, the file stays and means nothing
    (tmp_path / "metrics.jsonl").unlink()
    assert (tmp_path / LOCK_FILE).exists()
    check_output_dir(config_for(synthetic_dataset, tmp_path, "training.report_to=[]"))  # empty but for it


def test_a_diverging_run_stops_in_one_line_and_saves_no_non_finite_checkpoint(synthetic_dataset, tmp_path):
    """lr=1e30: the first step (lr/3) leaves huge but finite weights, the second step's loss is not finite."""
    from vla.train.trainer import NonFiniteTrainingError

    def strict(constant):
        raise ValueError(f"metrics.jsonl holds {constant}: not strict JSON")

    with pytest.raises(NonFiniteTrainingError) as stopped:
        train(config_for(synthetic_dataset, tmp_path, "training.lr=1e30", "training.steps=4",
                         "training.save_every=1", "training.report_to=[]"))  # fmt: skip
    message = str(stopped.value)
    assert message.startswith("training stopped at step 2: loss=") and "\n" not in message
    assert f"the last checkpoint is {(tmp_path / 'checkpoints/step-000001').resolve()}" in message
    rows = [
        json.loads(line, parse_constant=strict)
        for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in rows] == [1] and np.isfinite(rows[0]["grad_norm"])
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last", "step-000001"]
    assert all(torch.isfinite(w).all() for w in weights(tmp_path / "checkpoints/step-000001").values())


def test_sigint_saves_a_checkpoint_and_a_partial_one_is_removed_at_the_next_start(
    synthetic_dataset, tmp_path
):
    import signal
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "vla.train", str(ROOT / "recipes/tiny_cpu.yaml"), f"data.dataset={synthetic_dataset}",
           f"training.output_dir={out}", "policy.horizon=4", "training.batch_size=2", "tokenizer.options.n_bins=32",
           "training.report_to=[]", "training.steps=100000"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.jsonl"
    deadline = (
        time.monotonic() + 900
    )  # seconds on an idle machine; a loaded 2-core one needs minutes to start
    while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 2):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGINT, stderr[-3000:]
    step = json.loads(metrics.read_text().splitlines()[-1])["step"]
    last = (out / "checkpoints" / f"step-{step:06d}").resolve()
    assert stderr.splitlines()[-1] == (f"interrupted by SIGINT at step {step} of 100000: checkpoint saved to "
                                       f"{last}; continue with training.resume=last")  # fmt: skip
    assert (out / "checkpoints/last").resolve() == last
    assert json.loads((last / "trainer_state.json").read_text())["step"] == step
    # a crash mid-save leaves a partial folder: the next start removes it, and the run continues
    partial = out / "checkpoints/.tmp-step-000099"
    (partial / "training_state").mkdir(parents=True)
    resumed = train(config_for(synthetic_dataset, out, "training.resume=last", "training.report_to=[]",
                               f"training.steps={step + 1}"))  # fmt: skip
    assert not partial.exists() and resumed.name == f"step-{step + 1:06d}"


@pytest.mark.slow
def test_ctrl_c_on_two_processes_saves_one_checkpoint_and_leaves_no_process(synthetic_dataset, tmp_path):
    """Ctrl-C in a terminal sends SIGINT to the launcher and both ranks (one process group)."""
    import os
    import signal
    import time

    import psutil

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ROOT / "recipes/accelerate/cpu2.yaml"),
           "-m", "vla.train", str(ROOT / "recipes/tiny_cpu.yaml"), f"data.dataset={synthetic_dataset}",
           f"training.output_dir={out}", "policy.horizon=4", "training.batch_size=2", "tokenizer.options.n_bins=32",
           "training.report_to=[]", "training.steps=100000"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True)
    metrics, deadline = out / "metrics.jsonl", time.monotonic() + 900
    while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 2):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.2)
    children = psutil.Process(proc.pid).children(recursive=True)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode != 0
    lines = [line for line in stderr.splitlines() if line.startswith("interrupted by SIGINT")]
    assert len(lines) == 1, stderr[-3000:]  # one line, from rank 0
    last = (out / "checkpoints" / "last").resolve()
    step = json.loads((last / "trainer_state.json").read_text())["step"]
    assert f"at step {step} of 100000: checkpoint saved to {last}" in lines[0]
    assert not list((out / "checkpoints").glob(".tmp-*"))
    time.sleep(2)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def test_resume_from_an_incomplete_checkpoint_is_refused(synthetic_dataset, tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        train(config_for(synthetic_dataset, tmp_path, f"training.resume={tmp_path / 'half'}"))


def launch(
    dataset,
    out,
    *overrides,
    accelerate_args=("--config_file", str(ROOT / "recipes/accelerate/cpu2.yaml")),
    succeeds=True,
):
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", *accelerate_args,
        "-m", "vla.train", str(ROOT / "recipes/tiny_cpu.yaml"),
        f"data.dataset={dataset}", f"training.output_dir={out}", "policy.horizon=4", "training.batch_size=2",
        "tokenizer.options.n_bins=32", "training.report_to=[]", *overrides,
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert (result.returncode == 0) == succeeds, result.stderr[-3000:]
    return result


def test_two_processes_with_accumulation_follow_the_schedule_and_resume_to_identical_weights(
    synthetic_dataset, tmp_path
):
    """Warmup + cosine over training.steps optimizer steps, whatever the processes and accumulation; a run
    stopped after step 4 and resumed ends on the uninterrupted run's weights (one run serves as both: saving
    a checkpoint changes nothing in training, as the one-process resume tests show)."""
    run = tmp_path / "run"
    common = ("training.steps=6", "training.grad_accum=2", "training.warmup_steps=2", "training.batch_size=1",
              "training.save_every=2")  # fmt: skip
    # the rate each step used: linear warmup over 2 steps (lr/3, 2lr/3), full lr, then cosine towards 0 after
    # the 6th step (4 steps of progress 0, 1/4, 2/4, 3/4)
    cosine = [0.5 * (1 + np.cos(np.pi * k / 4)) * 1e-3 for k in range(4)]
    schedule = [1e-3 / 3, 2e-3 / 3, *cosine]
    launch(synthetic_dataset, run, *common)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([r["lr"] for r in rows], schedule, rtol=1e-9)

    straight = weights(run / "checkpoints/last")
    interrupt_after(run, kept_step=4, last_step=6)
    log = launch(synthetic_dataset, run, *common, "training.resume=last")
    assert "resumed from" in log.stdout + log.stderr and "2 process(es)" in log.stdout + log.stderr
    assert_resumed_to(straight, run, kept_step=4)
    # the log is cut back to the kept step, and the resumed steps 5-6 follow the same schedule
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([r["lr"] for r in rows], schedule, rtol=1e-9)


@pytest.mark.slow  # ~80 s of three 2-process launches: make test-slow (make test stays under 15 min on 2 cores)
def test_fsdp_recipe_trains_saves_resumes_and_reloads_on_two_cpu_processes(synthetic_dataset, tmp_path):
    """recipes/accelerate/fsdp.yaml on 2 CPU processes (gloo): the model really is sharded (FSDP2), gradient
    clipping sees the sharded parameters, the checkpoint holds the gathered full weights, and a resumed run
    ends on the same weights as the uninterrupted one."""
    from vla.model.policy import VLAPolicy

    fsdp = ("--config_file", str(ROOT / "recipes/accelerate/fsdp.yaml"), "--num_processes", "2",
            "--mixed_precision", "no")  # fmt: skip
    run = tmp_path / "run"
    launch(synthetic_dataset, run, "training.steps=4", "training.save_every=2", accelerate_args=fsdp)
    state = run / "checkpoints/last/training_state"
    assert (state / "pytorch_model_fsdp_0").is_dir() and (state / "optimizer_0").is_dir()  # sharded state
    straight = weights(run / "checkpoints/last")
    interrupt_after(run)
    log = launch(synthetic_dataset, run, "training.steps=4", "training.resume=last", accelerate_args=fsdp)
    assert "resumed from" in log.stdout + log.stderr and "2 process(es)" in log.stdout + log.stderr
    assert_resumed_to(straight, run, kept_step=2)
    policy = VLAPolicy.from_pretrained(run / "checkpoints/last")
    full = policy.model.state_dict()
    assert all(full[k].shape == v.shape for k, v in straight.items() if k in full)  # full, not shards
    chunk, valid = policy.predict_action_chunk({"image": np.zeros((256, 256, 3), np.uint8),
                                                "wrist_image": np.zeros((256, 256, 3), np.uint8),
                                                "state": np.zeros(8), "task": "pick up the soup"},
                                               return_valid=True)  # fmt: skip
    assert chunk.shape == (4, 7) and np.isfinite(chunk).all() and valid
    # a weight average needs whole weights on each rank: refused before any data or model loads
    refused = launch(synthetic_dataset, tmp_path / "ema", "training.ema_decay=0.999", accelerate_args=fsdp,
                     succeeds=False)  # fmt: skip
    assert "error: training.ema_decay=0.999 is invalid under FSDP" in refused.stderr  # the one-line error


@pytest.mark.parametrize("mode", ["blockwise", pytest.param("parallel", marks=pytest.mark.slow)])
def test_two_processes_train_each_decoding_mode(synthetic_dataset, tmp_path, mode):
    """The 4D masks, position ids and shift labels go through accelerate's sharding and DDP (autoregressive
    is the other 2-process tests' mode)."""
    from vla.model.policy import VLAPolicy

    log = launch(synthetic_dataset, tmp_path, "training.steps=2", f"policy.decoding={mode}")
    assert "2 process(es)" in log.stdout + log.stderr
    assert len(re.findall(r"Loading weights: +0%", log.stderr)) == 1  # rank 0's bar only (its first print)
    assert "Writing model shards" not in log.stderr  # no bar per checkpoint under the training bar
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all(np.isfinite(r["loss"]) for r in rows)
    policy = VLAPolicy.from_pretrained(tmp_path / "checkpoints/last")
    assert policy.config.decoding == mode
    chunk, valid = policy.predict_action_chunk({"image": np.zeros((256, 256, 3), np.uint8),
                                                "wrist_image": np.zeros((256, 256, 3), np.uint8),
                                                "state": np.zeros(8), "task": "pick up the soup"},
                                               return_valid=True)  # fmt: skip
    assert chunk.shape == (4, 7) and valid


def test_lora_trains_adapters_and_action_rows_only(synthetic_dataset, tmp_path, tiny_model_dir):
    from vla.model.policy import VLAPolicy

    last = train(
        config_for(
            synthetic_dataset,
            tmp_path,
            "training.steps=3",
            "policy.finetune=lora",
            "policy.lora_rank=4",
            "training.lr=1e-2",
            "training.report_to=[]",
        )  # fmt: skip
    )
    assert (last / "adapter_model.safetensors").is_file() and not (last / "model.safetensors").exists()
    adapter = json.loads((last / "adapter_config.json").read_text())
    assert adapter["r"] == 4
    assert adapter["base_model_name_or_path"] == "tiny"  # the preset vla resolves, not a cache path
    policy = VLAPolicy.from_pretrained(last)
    base = load_file(tiny_model_dir / "model.safetensors")
    emb = policy.model.get_input_embeddings().weight
    old = base["model.text_model.embed_tokens.weight"]
    assert torch.equal(emb[: old.shape[0]], old)  # text rows untouched
    # vision encoder untouched (LoRA reaches the text model only)
    key = "model.vision_model.embeddings.patch_embedding.weight"
    assert torch.equal(policy.model.state_dict()[key], base[key])
    chunk = policy.predict_action_chunk({"image": np.zeros((256, 256, 3), np.uint8),
                                         "wrist_image": np.zeros((256, 256, 3), np.uint8),
                                         "state": np.zeros(8), "task": "pick up the soup"})  # fmt: skip
    assert chunk.shape == (4, 7)


def test_frozen_vision_keeps_the_vision_encoder(synthetic_dataset, tmp_path, tiny_model_dir):
    last = train(
        config_for(
            synthetic_dataset,
            tmp_path,
            "training.steps=2",
            "policy.finetune=frozen_vision",
            "training.lr=1e-2",
            "training.report_to=[]",
        )  # fmt: skip
    )
    base, trained = load_file(tiny_model_dir / "model.safetensors"), weights(last)
    vision = [k for k in base if "vision_model" in k]
    assert vision and all(torch.equal(base[k], trained[k]) for k in vision)
    text = [k for k in base if "text_model.layers" in k]
    assert any(not torch.equal(base[k], trained[k]) for k in text)


def test_tensorboard_logs_and_gradient_checkpointing(synthetic_dataset, tmp_path):
    train(config_for(synthetic_dataset, tmp_path, "training.steps=2", "training.gradient_checkpointing=true"))
    events = list((tmp_path / "logs").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_gradient_checkpointing_recomputes_and_gives_the_same_gradients(synthetic_dataset, finetune):
    """training.gradient_checkpointing: the text layers run again in the backward pass (what saves the
    memory), and every trainable parameter gets the gradient it gets without it."""
    from vla.testing import make_policy
    from vla.train.trainer import enable_gradient_checkpointing

    policy, dataset = make_policy(synthetic_dataset, finetune=finetune, lora_rank=4)
    batch = policy.collate([dataset[0], dataset[5], dataset[11]])
    mlp = policy.model.get_decoder().layers[0].mlp  # counts its runs (the recomputation bypasses hooks)
    calls, forward = [], mlp.forward
    mlp.forward = lambda *args, **kwargs: calls.append(1) or forward(*args, **kwargs)
    params = {name: p for name, p in policy.model.named_parameters() if p.requires_grad}

    def gradients():
        policy.model.train()
        policy.model.zero_grad()
        calls.clear()
        policy.loss(batch).backward()
        return len(calls), {name: p.grad.detach().clone() for name, p in params.items()}

    plain_calls, plain = gradients()
    enable_gradient_checkpointing(policy)
    checkpointed_calls, checkpointed = gradients()
    assert (plain_calls, checkpointed_calls) == (1, 2)
    assert plain.keys() == checkpointed.keys() and len(plain) > 0
    for name, grad in plain.items():
        assert grad.abs().sum() > 0 or finetune == "lora", name
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-5, atol=1e-7, msg=name)


def test_push_stages_the_right_files_and_fails_clearly_offline(synthetic_dataset, tmp_path, monkeypatch):
    from vla.cli import main

    last = train(config_for(synthetic_dataset, tmp_path / "run", "training.steps=1", "training.report_to=[]"))
    results = tmp_path / "results.json"
    results.write_text(json.dumps({
        "per_task": {"libero_object/0": {"success_rate": 0.5, "episodes": 2}},
        "per_suite": {"libero_object": {"success_rate": 0.5, "episodes": 2}},
        "overall": {"success_rate": 0.5, "episodes": 2},
        "protocol": {"shortened": True, "max_steps": {"libero_object": 8},
                     "standard_max_steps": {"libero_object": 280}},
    }))  # fmt: skip
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_TOKEN", "hf_dummy")
    staging = tmp_path / "staged"
    with pytest.raises(SystemExit, match="folder is kept"):
        main(
            [
                "push",
                str(last),
                "--repo-id",
                "me/policy",
                "--results",
                str(results),
                "--staging-dir",
                str(staging),
            ]
        )
    names = {p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()}
    for expected in ("model.safetensors", "norm_stats.json", "action_tokenizer/action_tokenizer.json",
                     "processor_config.json", "vla_policy.json", "train_config.json", "eval_results.json"):  # fmt: skip
        assert expected in names
    assert not any(n.startswith("training_state") for n in names)
    card = (staging / "README.md").read_text()
    assert "| libero_object/0 | 50.0% | 2 |" in card and "library_name: vla" in card
    assert "| libero_object (suite) | 50.0% | 2 |" in card
    assert "license: apache-2.0" in card and "base_model:" not in card  # the tiny model is built locally
    assert "value: 50.0" in card  # model-index
    assert "Not the standard protocol: episodes capped at 8 steps (standard: libero_object 280)." in card


def test_training_push_to_hub_stages_exactly_what_vla_push_stages(
    synthetic_dataset, tmp_path, monkeypatch, capsys
):
    from vla.cli import main

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_TOKEN", "hf_dummy")
    out = tmp_path / "run"
    last = train(config_for(synthetic_dataset, out, "training.steps=1", "training.report_to=[]",
                            "training.push_to_hub=me/policy"))  # fmt: skip
    printed = capsys.readouterr().out
    assert "error: Could not push" in printed and "The folder is kept" in printed
    by_training = out / "push" / "me--policy"
    with pytest.raises(SystemExit, match="folder is kept"):
        main(["push", str(last), "--repo-id", "me/policy", "--staging-dir", str(tmp_path / "by_cli")])

    def tree(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    staged = tree(by_training)
    assert "model.safetensors" in staged and not any(n.startswith("training_state") for n in staged)
    assert staged == tree(tmp_path / "by_cli")


def test_trackers_that_cannot_start_are_refused_before_any_work(synthetic_dataset, tmp_path, monkeypatch):
    from vla.config import ConfigError
    from vla.train.trainer import _wandb_can_log, check_trackers

    check_trackers(("tensorboard",))
    with pytest.raises(ConfigError, match="'trackio' but trackio is not installed: `uv pip install trackio`"):
        train(config_for(synthetic_dataset, tmp_path / "run", "training.report_to=[trackio]"))
    assert not (tmp_path / "run" / "checkpoints").exists()
    with pytest.raises(ConfigError, match="training.report_to=.neptune. is invalid: expected one of"):
        config_for(synthetic_dataset, tmp_path / "run", "training.report_to=[neptune]")

    # wandb without a key would stop at an interactive login prompt
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)
    for name in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(name, raising=False)
    assert not _wandb_can_log()
    with pytest.raises(ConfigError, match="no W&B key is set: .*or WANDB_MODE=offline to log locally"):
        check_trackers(("wandb",))
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert _wandb_can_log()
    monkeypatch.delenv("WANDB_MODE")
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    (tmp_path / ".netrc").chmod(0o600)
    assert _wandb_can_log()


def test_a_pretrained_tokenizer_of_another_horizon_is_one_config_error(synthetic_dataset, tmp_path):
    """policy.horizon is the one home of the horizon: a pretrained tokenizer of another horizon is refused
    (by the policy, not reconciled by the trainer), naming the key and the value that fits."""
    from vla.config import ConfigError
    from vla.tokenizers import BinningActionTokenizer

    chunks = np.random.default_rng(0).uniform(-1, 1, (32, 6, 7))
    BinningActionTokenizer(horizon=6, n_bins=8).fit(chunks).save_pretrained(tmp_path / "h6")
    pretrained = f"tokenizer.pretrained={tmp_path / 'h6'}"
    config = config_for(synthetic_dataset, tmp_path / "run", pretrained, "training.report_to=[]")
    message = (
        r"policy.horizon=4 is invalid with the 'binning' action tokenizer, whose chunks hold 6 actions; "
    )
    with pytest.raises(ConfigError, match=message + "set policy.horizon=6$"):
        train(config)


AUGMENT = (
    "data.image_transforms={enable: true, max_num_transforms: 1, tfs: {affine: {type: RandomAffine, "
    "kwargs: {degrees: [-5, 5], translate: [0.1, 0.1]}}}}"
)


def test_image_augmentation_changes_training_and_resumes_exactly(synthetic_dataset, tmp_path):
    """The augmentation is drawn per (seed, epoch, sample index): a resumed augmented run
    ends with the uninterrupted one's weights, and those differ from an unaugmented run's."""
    common = ["training.report_to=[]", "training.lr=3e-3", "training.steps=4", AUGMENT]
    straight = train(config_for(synthetic_dataset, tmp_path / "straight", *common))
    train(config_for(synthetic_dataset, tmp_path / "resumed", "training.save_every=2", *common))
    interrupt_after(tmp_path / "resumed")
    resumed = train(config_for(synthetic_dataset, tmp_path / "resumed", "training.resume=last", *common))
    assert_identical(straight, resumed)
    plain = train(config_for(synthetic_dataset, tmp_path / "plain", *common[:-1]))
    with pytest.raises(AssertionError):
        assert_identical(straight, plain)
    saved = json.loads((tmp_path / "straight" / "train_config.json").read_text())
    assert saved["data"]["image_transforms"]["tfs"]["affine"]["type"] == "RandomAffine"


def test_weight_ema_follows_the_warmed_up_decay_and_swaps_the_average_in_and_out():
    from vla.train.ema import WeightEMA

    layer = torch.nn.Linear(2, 1)
    layer.bias.requires_grad_(False)  # only trainable weights are averaged
    ema = WeightEMA(layer, decay=0.9)
    start = layer.weight.detach().clone()
    expected = start.clone()
    for n in range(20):
        with torch.no_grad():
            layer.weight.add_(1.0)
        ema.update()
        decay = min(0.9, (1 + n) / (10 + n))
        expected = decay * expected + (1 - decay) * layer.weight.detach()
    assert ema.names == ["weight"] and ema.updates == 20
    assert torch.allclose(ema.shadow[0], expected)
    raw = layer.weight.detach().clone()
    with ema.averaged_weights():
        assert torch.allclose(layer.weight, expected)
    assert torch.equal(layer.weight, raw)
    restored = WeightEMA(layer, decay=0.9)
    restored.load_state_dict(ema.state_dict())
    assert restored.updates == 20 and torch.equal(restored.shadow[0], ema.shadow[0])


def test_ema_checkpoints_hold_the_average_leave_training_alone_and_resume_exactly(
    synthetic_dataset, tmp_path
):
    from vla.config import ConfigError

    common = ["training.report_to=[]", "training.lr=3e-3", "training.steps=4"]
    ema = [*common, "training.ema_decay=0.5"]
    plain = train(config_for(synthetic_dataset, tmp_path / "plain", *common))
    straight = train(config_for(synthetic_dataset, tmp_path / "straight", *ema))
    # the policy saved is the average; the run's own weights are the plain run's (averaging changes no step)
    raw = load_file(straight / "training_state/model.safetensors")
    last = weights(plain)
    shared = [k for k in last if k in raw]
    assert shared and all(torch.equal(raw[k], last[k]) for k in shared)
    averaged = weights(straight)
    assert any(not torch.equal(averaged[k], v) for k, v in last.items())
    train(config_for(synthetic_dataset, tmp_path / "resumed", "training.save_every=2", *ema))
    interrupt_after(tmp_path / "resumed")
    resumed = train(config_for(synthetic_dataset, tmp_path / "resumed", "training.resume=last", *ema))
    assert_identical(straight, resumed)  # the average came back with the run's state
    with pytest.raises(
        ConfigError, match=r"training.ema_decay=None is invalid: .* trained with training.ema_decay=0.5"
    ):
        train(config_for(synthetic_dataset, tmp_path / "resumed", "training.resume=last", *common))
    with pytest.raises(ConfigError, match=r"training.ema_decay.*1.5.*between 0 and 1"):
        config_for(synthetic_dataset, tmp_path / "bad", "training.ema_decay=1.5")
