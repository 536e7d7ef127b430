"""The training config tree a recipe YAML maps onto."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from vla.config import check, check_choice
from vla.model.policy import PolicyConfig


@dataclass(frozen=True)
class DataConfig:
    #: LeRobotDataset folder or Hub repo id.
    dataset: str = ""
    #: Feature layout of the dataset (``libero``: image/wrist_image/state/actions; ``lerobot``:
    #: observation.images.*/observation.state/action), see vla/data/features.py.
    layout: str = "libero"
    #: Per-feature overrides of the layout, e.g. ``{wrist_image: observation.images.image2, gripper: binary}``.
    features: dict[str, str] = field(default_factory=dict)
    #: Training-time image augmentation: lerobot's ``ImageTransformsConfig`` fields (``enable``,
    #: ``max_num_transforms``, ``random_order``, ``tfs``). ``{enable: true}`` applies lerobot's default set
    #: (up to 3 of brightness, contrast, saturation, hue, sharpness, affine +-5 deg / 5% shift per image);
    #: empty: none. Evaluation never augments.
    image_transforms: dict[str, Any] = field(default_factory=dict)
    #: Keys that moved elsewhere: a recipe that still sets one fails naming the new key.
    MOVED_KEYS: ClassVar[dict[str, str]] = {"horizon": "policy.horizon"}

    def feature_map(self):
        from dataclasses import asdict

        from vla.data.features import LAYOUTS, FeatureMap

        return FeatureMap(**{**asdict(LAYOUTS[self.layout]), **self.features})

    def __post_init__(self) -> None:
        from vla.data.features import LAYOUTS, FeatureMap

        check(self.layout in LAYOUTS, "data.layout", self.layout, f"expected one of {sorted(LAYOUTS)}")
        unknown = sorted(set(self.features) - {f for f in FeatureMap.__dataclass_fields__})
        check(
            not unknown,
            "data.features",
            self.features,
            f"keys must be among {sorted(FeatureMap.__dataclass_fields__)}",
        )
        check(bool(self.dataset), "data.dataset", self.dataset, "a LeRobotDataset folder or Hub repo id")
        from vla.data.augment import build_image_transforms

        build_image_transforms(self.image_transforms)  # builds it when enabled: a bad name fails here


@dataclass(frozen=True)
class TokenizerConfig:
    #: Tokenizer type to fit on the training data (``binning``); ignored when ``pretrained`` is set.
    type: str = "binning"
    #: Folder or Hub id of an already fitted action tokenizer.
    pretrained: str | None = None
    #: Fields of the tokenizer's own config (e.g. ``n_bins``), besides horizon (``policy.horizon``) and
    #: action_dim (the dataset's).
    options: dict[str, Any] = field(default_factory=dict)


#: ``training.mixed_precision`` values (accelerate's, and ``auto``: see :func:`resolve_mixed_precision`).
MIXED_PRECISIONS = ("no", "bf16", "fp16", "auto")
#: CPU flags of native bfloat16 multiplication (/proc/cpuinfo): without one, torch emulates bf16 products.
NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def resolve_mixed_precision(requested: str | None) -> str | None:
    """``auto``: ``bf16`` where the hardware multiplies bfloat16 natively, else ``no``; other values as
    they are. Explicit ``bf16`` on a CPU that emulates it is kept but warned about (measured ~10x slower)."""
    import logging

    import torch

    from vla.distributed import is_launch_rank_zero
    from vla.versions import cpu_bf16_flags

    logger = logging.getLogger(__name__)
    cuda = torch.cuda.is_available()
    native = (
        torch.cuda.is_bf16_supported() if cuda else bool(set(cpu_bf16_flags()) & set(NATIVE_BF16_CPU_FLAGS))
    )
    if requested == "auto":
        resolved = "bf16" if native else "no"
        logger.info("training.mixed_precision=auto: %s (bfloat16 is %s on this %s)", resolved,
                    "native" if native else "emulated", "GPU" if cuda else "CPU")  # fmt: skip
        return resolved
    if requested == "bf16" and not native and not cuda and is_launch_rank_zero():
        logger.warning(
            "training.mixed_precision=bf16 on a CPU without %s: bfloat16 products are emulated, "
            "about 10x slower than float32 here; set it to 'auto' or 'no'",
            " or ".join(NATIVE_BF16_CPU_FLAGS),
        )
    return requested


#: Experiment trackers accelerate logs to (``training.report_to``), and the package each one needs.
TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio"}


@dataclass(frozen=True)
class TrainingConfig:
    output_dir: str = "outputs/train"
    steps: int = 20
    #: Samples per process per micro-batch.
    batch_size: int = 4
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 2
    max_grad_norm: float = 1.0
    #: Keep an exponential moving average of the trainable weights with this decay (e.g. 0.999: about the
    #: last 1,000 steps) and save it as the checkpoint's policy; ``None``: the last weights. Not with FSDP.
    ema_decay: float | None = None
    #: Save a checkpoint every N optimizer steps (0: only at the end).
    save_every: int = 0
    #: How many step checkpoints to keep (the last one is always kept).
    keep_last: int = 2
    seed: int = 0
    num_workers: int = 0
    #: ``no``, ``bf16``, ``fp16``, or ``auto``: bf16 where the hardware multiplies bfloat16 natively (a CUDA
    #: GPU that supports it; a CPU with ``avx512_bf16`` or AMX), else ``no`` (an AVX2-only CPU emulates
    #: bfloat16 ~10x slower than float32); ``None`` leaves it to ``accelerate launch --mixed_precision``.
    mixed_precision: str | None = None
    #: Recompute activations in the backward pass: less memory, ~30% more compute.
    gradient_checkpointing: bool = False
    #: Experiment trackers: ``tensorboard`` (default, logs under output_dir/logs), ``wandb``; empty for none.
    report_to: tuple[str, ...] = ("tensorboard",)
    #: Continue from a checkpoint: ``last`` (this run's newest), a checkpoint folder, or ``None``.
    resume: str | None = None
    #: Start over in a non-empty ``output_dir``: its checkpoints, metrics and logs are deleted first.
    overwrite: bool = False
    #: Push the final checkpoint to this Hub repo id (``None``: do not push).
    push_to_hub: str | None = None

    def __post_init__(self) -> None:
        check(
            self.mixed_precision in (None, *MIXED_PRECISIONS),
            "training.mixed_precision",
            self.mixed_precision,
            "expected null, " + ", ".join(repr(m) for m in MIXED_PRECISIONS),
        )
        for tracker in self.report_to:
            check_choice("training.report_to", tracker, tuple(TRACKERS))
        check(self.steps >= 1, "training.steps", self.steps, "must be >= 1")
        check(self.batch_size >= 1, "training.batch_size", self.batch_size, "must be >= 1")
        check(self.grad_accum >= 1, "training.grad_accum", self.grad_accum, "must be >= 1")
        check(self.lr > 0, "training.lr", self.lr, "must be > 0")
        check(
            self.ema_decay is None or 0 < self.ema_decay < 1,
            "training.ema_decay",
            self.ema_decay,
            "expected null or a number between 0 and 1 (exclusive), e.g. 0.999",
        )
        check(self.warmup_steps >= 0, "training.warmup_steps", self.warmup_steps, "must be >= 0")
        check(self.save_every >= 0, "training.save_every", self.save_every, "must be >= 0")
        check(self.keep_last >= 1, "training.keep_last", self.keep_last, "must be >= 1")
        check(
            not (self.overwrite and self.resume),
            "training.overwrite",
            self.overwrite,
            f"overwrite would delete the run that training.resume={self.resume!r} continues; set one of them",
        )
        check(self.num_workers >= 0, "training.num_workers", self.num_workers, "must be >= 0")


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
