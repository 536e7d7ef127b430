"""The training loop: one screen, accelerate for devices and processes, checkpoints that hold everything.

A checkpoint folder ``checkpoints/step-NNNNNN`` holds the policy (weights or LoRA adapter, processor,
action tokenizer, normalization statistics, policy config), the resolved training config, a model card,
the trainer state (step) and the accelerate state (model, optimizer, scheduler, RNG). It is written under
a temporary name and renamed when complete; ``checkpoints/last`` points at the newest one.

Exact resume: the data order is a function of (seed, epoch) (accelerate's seedable sampler), so a resumed
run skips the micro-batches already consumed and sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from vla._logging import library_progress_bars_off
from vla.config import ConfigError, check_output_folder, to_dict
from vla.distributed import fsdp_without_gpu, is_launch_rank_zero, use_cpu_processes_without_gpu
from vla.errors import UserError
from vla.hub.card import write_policy_card
from vla.train.config import TrainConfig, resolve_mixed_precision

TRAINING_STATE_DIR = "training_state"
TRAIN_CONFIG_FILE = "train_config.json"
TRAINER_STATE_FILE = "trainer_state.json"


def build_tokenizer(config: TrainConfig, dataset):
    from vla.data.dataset import check_stats_match
    from vla.tokenizers import AutoActionTokenizer
    from vla.train.tokenizer import fit_action_tokenizer

    if config.tokenizer.pretrained:  # its horizon must be policy.horizon: VLAPolicy checks it
        tokenizer = AutoActionTokenizer.from_pretrained(config.tokenizer.pretrained)
        check_stats_match(tokenizer.action_stats, dataset, "actions")
        return tokenizer
    return fit_action_tokenizer(
        config.tokenizer.type, dataset, config.policy.horizon, config.tokenizer.options
    )


def resume_tokenizer(config: TrainConfig, checkpoint: Path, dataset):
    """The checkpoint's own action tokenizer (its token ids are what the weights learned), never a refit.

    Refuses a resume whose tokenizer settings, horizon or weight average (``training.ema_decay``: on with
    the same decay, or off) differ from the checkpoint's, in one line (runs saved before the horizon moved
    to the policy config recorded it as ``data.horizon``).
    """
    from vla.data.dataset import check_stats_match
    from vla.model.policy import ACTION_TOKENIZER_DIR
    from vla.tokenizers import AutoActionTokenizer

    saved = json.loads((checkpoint / TRAIN_CONFIG_FILE).read_text())
    for name, now, then in (
        ("tokenizer", to_dict(config.tokenizer), saved.get("tokenizer")),
        ("policy.horizon", config.policy.horizon, saved_horizon(saved)),
        ("training.ema_decay", config.training.ema_decay, saved.get("training", {}).get("ema_decay")),
    ):
        if now != then:
            raise ConfigError(
                f"{name}={now!r} is invalid: training.resume={config.training.resume!r} was trained with "
                f"{name}={then!r}; resume with the same settings or start a new output_dir"
            )
    tokenizer = AutoActionTokenizer.from_pretrained(checkpoint / ACTION_TOKENIZER_DIR)
    check_stats_match(tokenizer.action_stats, dataset, "actions")
    return tokenizer


def saved_horizon(saved_config: dict[str, Any]) -> int | None:
    """The horizon a saved training config ran with."""
    return saved_config.get("policy", {}).get("horizon", saved_config.get("data", {}).get("horizon"))


def enable_gradient_checkpointing(policy) -> None:
    """Recompute activations in the backward pass (``training.gradient_checkpointing``): same gradients,
    less memory."""
    policy.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if policy.is_lora:
        policy.model.enable_input_require_grads()


def adamw(params: list, **kwargs):
    """AdamW with torch's fused kernel where it has one for the parameters' device (CPU, CUDA): one kernel
    for every tensor instead of several small ops per tensor, 3.3x faster per step for the small model on
    CPU (bench/train_step_parts.py); same update rule, so only float rounding differs from the default."""
    import torch

    try:
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except RuntimeError:  # a device or dtype without the fused kernel: torch's default implementation
        return torch.optim.AdamW(params, **kwargs)


def warmup_cosine_schedule(optimizer, warmup_steps: int, total_steps: int):
    """Linear warmup then cosine decay, indexed by optimizer steps already taken (0 for the first step).

    The first step runs at lr / (warmup + 1), never at 0 (transformers' schedule starts at 0 and wastes
    it); after ``warmup_steps`` steps the full lr, decaying to 0 after the last step.
    """
    import math

    from torch.optim.lr_scheduler import LambdaLR

    def factor(taken: int) -> float:
        if taken < warmup_steps:
            return (taken + 1) / (warmup_steps + 1)
        progress = (taken - warmup_steps) / max(1, total_steps - warmup_steps)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    return LambdaLR(optimizer, factor)


#: What a training run writes into its output_dir (``training.overwrite`` deletes these).
RUN_OUTPUTS = ("checkpoints", "logs", "push", "metrics.jsonl", TRAIN_CONFIG_FILE)


#: Held (flock) by the main process of a live run; the file itself may stay behind, it means nothing alone.
LOCK_FILE = ".vla-train.lock"


def lock_output_dir(out: Path):
    """Refuse a second live run in the same folder (e.g. both ranks of a run whose launcher was killed -9
    keep training); the lock dies with the process that holds it. Returns the open lock file (keep it)."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    handle = (out / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise FileExistsError(
            f"training.output_dir={str(out)!r} is in use by a live training run (pid {holder}); wait for it, "
            "stop it, or choose another output_dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def check_trackers(report_to: tuple[str, ...]) -> None:
    """Fail before any work when a tracker cannot start: its package is missing, or wandb has no key (it
    would otherwise stop at an interactive login prompt, or after the model was built)."""
    import importlib.util

    from vla.config import ConfigError
    from vla.train.config import TRACKERS

    for tracker in report_to:
        package = TRACKERS[tracker]
        if importlib.util.find_spec(package) is None:
            raise ConfigError(
                f"training.report_to includes {tracker!r} but {package} is not installed: `uv pip install "
                f"{package}`, or drop it (training.report_to=[] logs to metrics.jsonl only)"
            )
        if tracker == "wandb" and not _wandb_can_log():
            raise ConfigError(
                "training.report_to includes 'wandb' but no W&B key is set: `wandb login`, WANDB_API_KEY=..., "
                "or WANDB_MODE=offline to log locally and sync later"
            )


def _wandb_can_log() -> bool:
    import netrc

    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun"):
        return True
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def check_output_dir(config: TrainConfig) -> None:
    """Refuse to merge a new run into a folder that already holds one (one line, before any work)."""
    tc = config.training
    out = Path(tc.output_dir)
    if tc.resume or tc.overwrite or not out.is_dir():
        return
    held = sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE)
    if held:
        shown = ", ".join(held[:4]) + (", ..." if len(held) > 4 else "")
        raise FileExistsError(
            f"training.output_dir={str(out)!r} is not empty ({shown}): continue that run with "
            "training.resume=last, start over with training.overwrite=true, or choose another output_dir"
        )


def clear_run_outputs(out: Path) -> None:
    for name in RUN_OUTPUTS:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def truncate_metrics(log_file: Path, step: int) -> None:
    """Keep the metrics of steps up to ``step`` (a resume redoes the later ones) and no half-written line."""
    if not log_file.is_file():
        return
    kept = []
    for line in log_file.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and row.get("step", step + 1) <= step:
            kept.append(line)
    tmp = log_file.with_name(log_file.name + ".tmp")
    tmp.write_text("".join(f"{line}\n" for line in kept))
    os.replace(tmp, log_file)


def resolve_resume(config: TrainConfig) -> Path | None:
    resume = config.training.resume
    if not resume:
        return None
    path = Path(config.training.output_dir) / "checkpoints" / "last" if resume == "last" else Path(resume)
    if not (path / TRAINER_STATE_FILE).is_file():
        raise FileNotFoundError(
            f"training.resume={resume!r}: {path} is not a complete checkpoint (no {TRAINER_STATE_FILE})"
        )
    return path.resolve()


def data_position(step: int, batches_per_epoch: int, grad_accum: int) -> tuple[int, int]:
    """(epoch, micro-batches of that epoch already consumed) after ``step`` optimizer steps.

    accelerate ends an accumulation at the end of each epoch, so an epoch holds
    ceil(batches / grad_accum) optimizer steps, the last one possibly shorter.
    """
    steps_per_epoch = -(-batches_per_epoch // grad_accum)
    epoch, steps_into_epoch = divmod(step, steps_per_epoch)
    return epoch, steps_into_epoch * grad_accum


def _save_checkpoint(
    accelerator,
    policy,
    model,
    config: TrainConfig,
    step: int,
    metrics: dict[str, Any],
    dataset_source: dict[str, Any] | None = None,
    ema=None,
) -> Path:
    """Write checkpoint ``step`` atomically; its trainer_state.json names the data it was trained on
    (``dataset_source``: name, Hub revision, episodes, frames) next to the step and metrics. With ``ema``
    (a :class:`~vla.train.ema.WeightEMA`) the policy saved is the averaged one; the training state keeps
    the raw weights and the average."""
    _check_finite_weights(accelerator, model, step)
    ckpt_root = Path(config.training.output_dir) / "checkpoints"
    final = ckpt_root / f"step-{step:06d}"
    tmp = ckpt_root / f".tmp-step-{step:06d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp / TRAINING_STATE_DIR))
    # Under FSDP every rank holds a shard: all ranks gather, the main process writes the full weights.
    with ema.averaged_weights() if ema is not None else contextlib.nullcontext():
        state_dict = accelerator.get_state_dict(model)  # shares the average's storage until written below
    if accelerator.is_main_process:
        policy.model = accelerator.unwrap_model(model)
        with library_progress_bars_off():  # one bar per checkpoint would bury the training bar
            policy.save_pretrained(tmp, state_dict=state_dict)
        (tmp / TRAIN_CONFIG_FILE).write_text(json.dumps(to_dict(config), indent=1))
        from vla.model.decoding import model_attn_implementation

        # the attention and precision the run used (the config may say auto, which each machine resolves)
        state = {"step": step, "metrics": metrics, "dataset": dataset_source,
                 "attn_implementation": model_attn_implementation(policy.model),
                 "mixed_precision": accelerator.mixed_precision}  # fmt: skip
        (tmp / TRAINER_STATE_FILE).write_text(json.dumps(state, indent=1))
        from vla.model.backbones import hub_repo_id

        write_policy_card(tmp, to_dict(config), step=step, metrics=metrics, hub_id=hub_repo_id)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)  # the folder appears complete or not at all
        link, tmp_link = ckpt_root / "last", ckpt_root / ".last.tmp"
        if tmp_link.is_symlink() or tmp_link.exists():
            tmp_link.unlink()
        tmp_link.symlink_to(final.name)
        os.replace(tmp_link, link)
        kept = sorted(p for p in ckpt_root.glob("step-*") if p.is_dir())
        for old in kept[: -config.training.keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def train(config: TrainConfig) -> Path:
    """Run (or resume) training; returns the last checkpoint folder."""
    # rank 0 (accelerate launch sets RANK) holds the folder's lock until training ends, before anything is
    # cleared; released explicitly, since a traceback may keep this frame (and an open file) alive
    main_process = is_launch_rank_zero()
    if main_process:
        check_output_folder("training.output_dir", config.training.output_dir)
    lock = lock_output_dir(Path(config.training.output_dir)) if main_process else None
    try:
        return _train(config)
    finally:
        if lock is not None:
            lock.close()


def _train(config: TrainConfig) -> Path:
    import torch
    from accelerate import Accelerator, DataLoaderConfiguration
    from accelerate.utils import set_seed
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from vla.data.augment import build_image_transforms
    from vla.data.dataset import compute_norm_stats, load_chunked_dataset
    from vla.model.policy import VLAPolicy
    from vla.tokenizers.normalize import NormStats

    tc = config.training
    out = Path(tc.output_dir)
    resume_from = resolve_resume(config)
    check_output_dir(config)
    check_trackers(tc.report_to)
    use_cpu_processes_without_gpu()
    fsdp_without_gpu()
    # accelerate keeps mixed precision and accumulation in process-wide singletons: a second train() in one
    # process (a notebook, the tests) would silently inherit the first run's bf16. The process group stays.
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state()
    GradientState._reset_state()
    accelerator = Accelerator(
        gradient_accumulation_steps=tc.grad_accum,
        mixed_precision=resolve_mixed_precision(tc.mixed_precision),
        log_with=list(tc.report_to) or None,
        project_dir=str(out / "logs"),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=tc.seed),
        # The schedule is in optimizer steps; accelerate's default would step it once per process.
        step_scheduler_with_optimizer=False,
    )
    if tc.ema_decay is not None:  # before any data or model loads
        from accelerate.utils import DistributedType

        if accelerator.distributed_type == DistributedType.FSDP:
            raise ConfigError(
                f"training.ema_decay={tc.ema_decay} is invalid under FSDP (each rank holds a shard of the "
                "weights): set it to null, or train with DDP"
            )
    if accelerator.is_main_process:
        if tc.overwrite:
            clear_run_outputs(out)
        for partial in sorted((out / "checkpoints").glob(".tmp-step-*")):
            shutil.rmtree(partial, ignore_errors=True)
            print(f"removed {partial}: a partial checkpoint left by an interrupted run")
    accelerator.wait_for_everyone()
    set_seed(tc.seed)
    dataset = load_chunked_dataset(
        config.data.dataset,
        config.policy.horizon,
        config.data.feature_map(),
        image_transforms=build_image_transforms(config.data.image_transforms),
        augment_seed=tc.seed,
    )
    if resume_from is not None:  # the checkpoint's tokenizer and statistics, as its weights learned them
        tokenizer, norm_stats = (
            resume_tokenizer(config, resume_from, dataset),
            NormStats.from_pretrained(resume_from),
        )
    else:  # every process fits the same deterministic tokenizer on the same data: no broadcast needed
        tokenizer, norm_stats = build_tokenizer(config, dataset), compute_norm_stats(dataset)
    policy_config = config.policy
    if policy_config.image_size is None:  # evaluation renders at the size the policy was trained on
        policy_config = dataclasses.replace(policy_config, image_size=dataset.image_size)
    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(accelerator.mixed_precision)
    policy = VLAPolicy.from_base(policy_config, tokenizer, norm_stats, autocast_dtype=autocast)
    if tc.gradient_checkpointing:
        enable_gradient_checkpointing(policy)
    policy.model.train()
    loader = DataLoader(
        dataset,
        batch_size=tc.batch_size,
        shuffle=True,
        drop_last=len(dataset) >= tc.batch_size * accelerator.num_processes,
        collate_fn=policy.collate,
        num_workers=tc.num_workers,
    )
    params = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer = adamw(params, lr=tc.lr, weight_decay=tc.weight_decay)
    scheduler = warmup_cosine_schedule(optimizer, tc.warmup_steps, tc.steps)
    model, optimizer, loader, scheduler = accelerator.prepare(policy.model, optimizer, loader, scheduler)
    if len(loader) == 0:
        raise ValueError(f"the dataset has {len(dataset)} samples: too few for batch_size={tc.batch_size}")
    ema = None
    if tc.ema_decay is not None:
        from vla.train.ema import WeightEMA

        ema = WeightEMA(accelerator.unwrap_model(model), tc.ema_decay)
        accelerator.register_for_checkpointing(ema)  # saved and restored with the run's state

    step = 0
    if resume_from is not None:
        accelerator.load_state(str(resume_from / TRAINING_STATE_DIR))
        step = json.loads((resume_from / TRAINER_STATE_FILE).read_text())["step"]
        accelerator.print(f"resumed from {resume_from} at step {step}")
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        truncate_metrics(out / "metrics.jsonl", step)
        (out / TRAIN_CONFIG_FILE).write_text(json.dumps(to_dict(config), indent=1))
    if tc.report_to:
        accelerator.init_trackers("vla", config=_flat(to_dict(config)))
    accelerator.print(
        f"training {config.policy.base_model} ({config.policy.finetune}) on {len(dataset)} samples, "
        f"{accelerator.num_processes} process(es), {sum(p.numel() for p in params):,} trainable parameters"
    )

    log_file = out / "metrics.jsonl"
    samples_per_step = tc.batch_size * tc.grad_accum * accelerator.num_processes
    epoch, skip = data_position(step, len(loader), tc.grad_accum)
    bar = tqdm(
        total=tc.steps, initial=step, desc="training", unit="step", disable=not accelerator.is_main_process
    )
    metrics: dict[str, Any] = {}
    start, start_step = time.perf_counter(), step
    # SIGINT/SIGTERM: finish the current step, save, and say where (a second Ctrl-C stops at once)
    stop, saved_step, interrupted = _StopOnSignal(), step, False
    try:
        while step < tc.steps:
            loader.set_epoch(epoch)
            # accelerate passes the epoch to the dataset only when it shards no sampler (one process):
            # the augmentation's draws depend on it
            dataset.set_epoch(epoch)
            batches = accelerator.skip_first_batches(loader, skip) if skip else loader
            skip = 0
            for batch in batches:
                with accelerator.accumulate(model):
                    loss = model(**batch).loss
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        # the prepared model's parameters: FSDP replaced the originals by sharded DTensors
                        grad_norm = _scalar(accelerator.clip_grad_norm_(model.parameters(), tc.max_grad_norm))
                        mean_loss = accelerator.reduce(loss.detach(), reduction="mean").item()
                        # every rank sees the same reduced values, so all stop together, before the update
                        _stop_if_not_finite(step + 1, mean_loss, grad_norm, out)
                    lr = optimizer.param_groups[0]["lr"]  # the rate this step uses
                    optimizer.step()
                    if accelerator.sync_gradients:
                        scheduler.step()
                        if ema is not None:
                            ema.update()
                    optimizer.zero_grad()
                if not accelerator.sync_gradients:
                    continue
                step += 1
                elapsed = time.perf_counter() - start
                metrics = {
                    "step": step,
                    "loss": round(mean_loss, 6),
                    "lr": lr,
                    "grad_norm": round(grad_norm, 6),
                    "samples_per_s": round((step - start_step) * samples_per_step / elapsed, 3),
                    "elapsed_s": round(elapsed, 3),
                }
                if tc.report_to:
                    accelerator.log(
                        {"train/loss": mean_loss, "train/lr": lr, "train/grad_norm": grad_norm}, step=step
                    )
                if accelerator.is_main_process:
                    with log_file.open("a") as f:
                        f.write(json.dumps(metrics, allow_nan=False) + "\n")  # strict JSON
                    bar.set_postfix(
                        loss=f"{mean_loss:.4f}", lr=f"{metrics['lr']:.2e}", sps=metrics["samples_per_s"]
                    )
                    bar.update(1)
                if tc.save_every and step % tc.save_every == 0 and step < tc.steps:
                    _save_checkpoint(accelerator, policy, model, config, step, metrics, dataset.source, ema)
                    saved_step = step
                if step >= tc.steps:
                    break
                if stop.agreed(accelerator):  # all ranks take this decision together
                    interrupted = True
                    break
            if interrupted:
                break
            epoch += 1
        bar.close()
        if interrupted and step == saved_step:  # save_every just wrote this step
            last = Path(tc.output_dir) / "checkpoints" / f"step-{step:06d}"
        else:
            last = _save_checkpoint(accelerator, policy, model, config, step, metrics, dataset.source, ema)
    finally:
        stop.restore()
    if interrupted:
        accelerator.end_training()
        raise TrainingInterrupted(
            stop.signum,
            f"interrupted by {stop.name} at step {step} of {tc.steps}: checkpoint saved to {last}; "
            "continue with training.resume=last",
        )
    accelerator.end_training()
    if accelerator.is_main_process:
        print(f"checkpoint: {last}")
        if tc.push_to_hub:
            _push(last, tc.push_to_hub, out)
    return last


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped training after a finished step; the message says where its checkpoint is."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum


class _StopOnSignal:
    """SIGINT/SIGTERM ask for a stop after the current optimizer step; a second Ctrl-C acts at once."""

    def __init__(self) -> None:
        import signal
        import threading

        self.signum, self._first = 0, 0.0
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)

    @property
    def name(self) -> str:
        import signal

        return signal.Signals(self.signum).name if self.signum else ""

    def _handle(self, signum: int, frame: Any) -> None:
        import signal

        now = time.monotonic()
        if not self.signum:
            self.signum, self._first = signum, now
        # accelerate's launcher (torchrun) echoes the signal it got to every process at once (and kills them
        # 30 s later if they are still saving): ignore that echo; a Ctrl-C seconds later stops at once.
        elif signum == signal.SIGINT and now - self._first > 5:
            self.restore()
            raise KeyboardInterrupt

    def restore(self) -> None:
        import signal

        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def agreed(self, accelerator) -> bool:
        """Every rank stops at the same step, whichever received the signal."""
        if accelerator.num_processes > 1:
            import torch

            flags = accelerator.gather(torch.tensor([self.signum], device=accelerator.device))
            self.signum = int(flags.max().item())
        return bool(self.signum)


class NonFiniteTrainingError(RuntimeError, UserError):
    """The loss or the gradient norm is NaN or infinite: training stops before the update reaches the weights."""


def _scalar(value) -> float:
    full = getattr(value, "full_tensor", None)  # FSDP2 returns a replicated DTensor
    return float((full() if full else value).item()) if hasattr(value, "item") else float(value)


def _stop_if_not_finite(step: int, loss: float, grad_norm: float, out: Path) -> None:
    import math

    if math.isfinite(loss) and math.isfinite(grad_norm):
        return
    last = out / "checkpoints" / "last"
    saved = f"the last checkpoint is {last.resolve()}" if last.exists() else "no checkpoint was saved"
    raise NonFiniteTrainingError(
        f"training stopped at step {step}: loss={loss} and gradient norm={grad_norm} must be finite; "
        f"nothing of this step was applied or saved, {saved}; lower training.lr or check the data"
    )


def _check_finite_weights(accelerator, model, step: int) -> None:
    """Refuse to save NaN/inf weights (all ranks decide together: each checks its own shards)."""
    import torch

    from vla.model.policy import nonfinite_parameters

    bad = len(nonfinite_parameters(model))
    flags = accelerator.reduce(torch.tensor([bad], device=accelerator.device), reduction="sum")
    if int(flags.item()):
        raise NonFiniteTrainingError(
            f"training stopped at step {step}: {int(flags.item())} weight tensor(s) hold NaN or infinite "
            "values; the checkpoint is not saved; lower training.lr or check the data"
        )


def _push(checkpoint: Path, repo_id: str, output_dir: Path) -> None:
    """What ``vla push`` pushes (no training state), staged under ``output_dir/push``."""
    from vla.hub import HubUnavailableError
    from vla.hub.card import push_checkpoint
    from vla.model.backbones import hub_repo_id

    staging = output_dir / "push" / repo_id.replace("/", "--")
    try:
        print(f"pushed: {push_checkpoint(checkpoint, repo_id, staging, hub_id=hub_repo_id)}")
    except HubUnavailableError as err:  # training succeeded; the staged folder stays for a later push
        print(f"error: {err}")


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Trackers want flat scalar hyperparameters."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat
