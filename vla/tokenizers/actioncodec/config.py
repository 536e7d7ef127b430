"""ActionCodec's configuration: architecture, time, embodiments, losses, codebook upkeep and training.

Defaults are the released ActionCodec-Base: width 256, 6 layers, 8 heads, latent 512, 16 tokens, 2048 codes,
EMA decay 0.99, commitment 0.25, k-means init, dead-code threshold 2; chunks of 1 s at 20 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass

from vla.config import check, check_choice


@dataclass(frozen=True)
class ActionCodecConfig:
    """Architecture (width ``dim``, ``depth``, ``heads``; ``decoder_*`` 0 = as the encoder; ``latent_dim``,
    ``num_tokens`` per level, ``codebook_size``, ``rvq_stages``), time (``horizon`` steps at ``freq_hz``,
    Fourier features of scale ``fourier_scale``), embodiments, losses (commitment, overlap, contrastive),
    codebook upkeep (EMA decay, k-means init, dead-code threshold: codes whose EMA usage falls below it are
    restarted from batch latents), and training (lr, steps, batch, seed, device). ``action_scale``, when
    set, replaces the fitted q01/q99 normalization by ``actions / action_scale`` (signed per dimension, as the
    released LIBERO pipeline divides by max |q| and negates the gripper); normalized actions are clipped to
    [-1, 1] either way, as the released pipeline does."""

    horizon: int = 20
    action_dim: int = 7
    freq_hz: float = 20.0
    num_tokens: int = 16
    codebook_size: int = 2048
    latent_dim: int = 512
    dim: int = 256
    depth: int = 6
    heads: int = 8
    decoder_dim: int = 0
    decoder_depth: int = 0
    decoder_heads: int = 0
    mlp_ratio: int = 4
    layer_scale: float = 1e-2
    fourier_scale: float = 2.0
    num_embodiments: int = 1
    #: Names of the embodiments (soft prompts), e.g. ("a_franka_libero_20hz",); empty: ids only.
    embodiment_names: tuple[str, ...] = ()
    rvq_stages: int = 0
    quantizer_dropout: float = 0.25
    commitment_weight: float = 0.25
    overlap_weight: float = 0.1
    #: InfoNCE between tokens and observation features; 0 switches it (and the feature computation) off.
    contrastive_weight: float = 0.0
    contrastive_temperature: float = 0.1
    #: Base VLM whose encoders give the observation features (preset, folder or Hub id).
    observation_model: str = "tiny"
    ema_decay: float = 0.99
    kmeans_init: bool = True
    dead_code_threshold: float = 2.0
    action_scale: tuple[float, ...] = ()
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    steps: int = 3000
    batch_size: int = 256
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        positive = ("horizon", "action_dim", "num_tokens", "dim", "depth", "heads", "num_embodiments")
        for name in positive + ("latent_dim", "mlp_ratio", "steps", "batch_size"):
            check(getattr(self, name) >= 1, name, getattr(self, name), "must be >= 1")
        for name in ("decoder_dim", "decoder_depth", "decoder_heads"):
            check(getattr(self, name) >= 0, name, getattr(self, name), "must be >= 0 (0: as the encoder)")
        check(2 <= self.codebook_size <= 65536, "codebook_size", self.codebook_size, "must be in [2, 65536]")
        check(self.dim % self.heads == 0, "heads", self.heads, f"must divide dim={self.dim}")
        check(self.dim % 2 == 0, "dim", self.dim, "must be even (Fourier features come in cos/sin pairs)")
        dec_dim, dec_heads, _ = self.decoder_sizes
        check(dec_dim % dec_heads == 0, "decoder_heads", dec_heads, f"must divide decoder_dim={dec_dim}")
        check(dec_dim % 2 == 0, "decoder_dim", dec_dim, "must be even")
        check(self.freq_hz > 0, "freq_hz", self.freq_hz, "must be > 0")
        check(0 <= self.rvq_stages <= 8, "rvq_stages", self.rvq_stages, "must be in [0, 8]")
        check(
            0 <= self.quantizer_dropout <= 1, "quantizer_dropout", self.quantizer_dropout, "must be in [0, 1]"
        )
        check(
            not self.embodiment_names or len(self.embodiment_names) == self.num_embodiments,
            "embodiment_names",
            self.embodiment_names,
            f"must be empty or name all num_embodiments={self.num_embodiments}",
        )
        check(
            not self.action_scale
            or (len(self.action_scale) == self.action_dim and all(v != 0 for v in self.action_scale)),
            "action_scale",
            self.action_scale,
            f"must be empty or {self.action_dim} non-zero numbers",
        )
        check(
            self.contrastive_temperature > 0,
            "contrastive_temperature",
            self.contrastive_temperature,
            "must be > 0",
        )
        weights = ("commitment_weight", "overlap_weight", "contrastive_weight", "dead_code_threshold")
        for name in (*weights, "weight_decay", "layer_scale", "fourier_scale"):
            check(getattr(self, name) >= 0, name, getattr(self, name), "must be >= 0")
        check(0 < self.ema_decay < 1, "ema_decay", self.ema_decay, "must be in (0, 1)")
        check(self.lr > 0, "lr", self.lr, "must be > 0")
        check(self.warmup_steps >= 0, "warmup_steps", self.warmup_steps, "must be >= 0")
        check_choice("device", self.device.split(":")[0], ("cpu", "cuda", "mps"))

    @property
    def decoder_sizes(self) -> tuple[int, int, int]:
        """(dim, heads, depth) of the decoder."""
        return (
            self.decoder_dim or self.dim,
            self.decoder_heads or self.heads,
            self.decoder_depth or self.depth,
        )
