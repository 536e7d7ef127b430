"""The ActionCodec network (torch), laid out as the authors released it. Imported only inside
ActionCodecTokenizer methods, so that importing ``vla.tokenizers`` stays free of torch and
vector_quantize_pytorch.

Encoder: per embodiment, ``num_tokens`` learned query tokens (the soft prompt, plus a fixed sin/cos position
code) cross-attend to the projected action steps plus Fourier features of each step's timestamp. There is no
self-attention among the queries, so each token is computed from the chunk independently of the other
tokens. Every block is pre-norm cross-attention then an MLP, each scaled by a LayerScale; queries and keys
are LayerNorm-ed per head. Decoder: one learned query per embodiment, repeated over the time steps and told
apart by Fourier features of their timestamps, cross-attends to the quantized tokens (plus a sin/cos position
code). Timestamps are ``step / freq_hz`` seconds, so a chunk's duration may vary (a padding mask hides the
missing steps from the encoder).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from vector_quantize_pytorch import VectorQuantize

if TYPE_CHECKING:
    from vla.tokenizers.actioncodec.config import ActionCodecConfig

NORM_EPS = 1e-2  # the released blocks' LayerNorm epsilon
POSITION_SCALE = 0.1  # sin/cos and Fourier codes are added at a tenth of unit scale, as released


def sincos_positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """(length, dim) fixed code: sin in even channels, cos in odd ones, geometric wavelengths."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(1e4) / dim))
    out = torch.zeros(length, dim, device=device)
    out[:, 0::2] = torch.sin(position * rate)
    out[:, 1::2] = torch.cos(position * rate)
    return out * POSITION_SCALE


def fourier_features(times: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Timestamps (B, T) in seconds -> (B, T, 2 * len(freqs)): [cos | sin] of 2 pi f t."""
    # The released code's order of operations: its latents are then bitwise equal to ours on the same weights.
    angle = times[..., None].float() * (2 * math.pi * freqs.float())
    return torch.cat([angle.cos(), angle.sin()], dim=-1) * POSITION_SCALE


def _timestamps(steps: int, freq_hz: float, device: torch.device) -> torch.Tensor:
    """Seconds of each step, computed as the released code does (step x (1 / frequency))."""
    return torch.arange(steps, dtype=torch.float32, device=device) * (
        1 / torch.tensor(freq_hz, device=device)
    )


class CrossAttention(nn.Module):
    """Multi-head attention of queries to a context; no biases; q and k LayerNorm-ed per head (no affine)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim, bias=False) for _ in range(4))

    def forward(
        self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        def split(t: torch.Tensor) -> torch.Tensor:
            return t.unflatten(-1, (self.heads, self.head_dim)).transpose(1, 2)  # (B, heads, L, head_dim)

        q = F.layer_norm(split(self.q(x)), (self.head_dim,))
        k = F.layer_norm(split(self.k(context)), (self.head_dim,))
        attn_mask = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, S): True = attend
        out = F.scaled_dot_product_attention(q, k, split(self.v(context)), attn_mask=attn_mask)
        return self.out(out.transpose(1, 2).flatten(2))


class Block(nn.Module):
    """Queries += LayerScale(cross-attention(norm(queries), context)); queries += LayerScale(MLP(norm))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, layer_scale: float) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(dim, eps=NORM_EPS)
        self.attn = CrossAttention(dim, heads)
        self.attn_scale = nn.Parameter(torch.full((dim,), layer_scale))
        self.mlp_norm = nn.LayerNorm(dim, eps=NORM_EPS)
        self.mlp_in = nn.Linear(dim, mlp_ratio * dim)
        self.mlp_out = nn.Linear(mlp_ratio * dim, dim)
        self.mlp_scale = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(
        self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = x + self.attn_scale * self.attn(self.attn_norm(x), context, mask)
        return x + self.mlp_scale * self.mlp_out(F.gelu(self.mlp_in(self.mlp_norm(x))))


def _truncated_normal(*shape: int) -> nn.Parameter:
    return nn.Parameter(nn.init.trunc_normal_(torch.empty(*shape), std=0.02))


def _linear(n_in: int, n_out: int) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    nn.init.trunc_normal_(layer.weight, std=0.02)
    nn.init.zeros_(layer.bias)
    return layer


class Encoder(nn.Module):
    def __init__(self, c: ActionCodecConfig) -> None:
        super().__init__()
        self.action_in = _linear(c.action_dim, c.dim)
        self.queries = _truncated_normal(c.num_embodiments, c.num_tokens, c.dim)
        self.register_buffer("time_freqs", torch.randn(c.dim // 2) * c.fourier_scale)
        self.blocks = nn.ModuleList(Block(c.dim, c.heads, c.mlp_ratio, c.layer_scale) for _ in range(c.depth))
        self.to_latent = _linear(c.dim, c.latent_dim)
        self.freq_hz = c.freq_hz

    def forward(
        self, actions: torch.Tensor, embodiment: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Normalized chunks (B, T, D), embodiment ids (B,), mask (B, T) True = real step -> (B, tokens, latent)."""
        b, t, _ = actions.shape
        times = _timestamps(t, self.freq_hz, actions.device).expand(b, t)
        context = self.action_in(actions) + fourier_features(times, self.time_freqs)
        queries = self.queries[embodiment]
        x = queries + sincos_positions(queries.shape[1], queries.shape[2], queries.device)
        for block in self.blocks:
            x = block(x, context, mask)
        return self.to_latent(x)


class Decoder(nn.Module):
    def __init__(self, c: ActionCodecConfig) -> None:
        super().__init__()
        dim, heads, depth = c.decoder_sizes
        self.latent_in = _linear(c.latent_dim, dim)
        self.queries = _truncated_normal(c.num_embodiments, 1, dim)
        self.register_buffer("time_freqs", torch.randn(dim // 2) * c.fourier_scale)
        self.blocks = nn.ModuleList(Block(dim, heads, c.mlp_ratio, c.layer_scale) for _ in range(depth))
        self.action_out = _linear(dim, c.action_dim)
        self.freq_hz = c.freq_hz

    def forward(self, quantized: torch.Tensor, embodiment: torch.Tensor, steps: int) -> torch.Tensor:
        """Quantized latents (B, tokens, latent) -> normalized chunks (B, steps, D)."""
        b, n, _ = quantized.shape
        memory = self.latent_in(quantized)
        memory = memory + sincos_positions(n, memory.shape[-1], memory.device)
        times = _timestamps(steps, self.freq_hz, quantized.device).expand(b, steps)
        x = self.queries[embodiment].expand(-1, steps, -1) + fourier_features(times, self.time_freqs)
        for block in self.blocks:
            x = block(x, memory)
        return self.action_out(x)


class ActionCodecNet(nn.Module):
    """Encoder, one EMA vector quantizer per level (level 0 the primary book, then residual books), decoder."""

    def __init__(self, c: ActionCodecConfig, sync_codebooks: bool = False) -> None:
        super().__init__()
        self.encoder = Encoder(c)
        self.quantizers = nn.ModuleList(
            VectorQuantize(
                dim=c.latent_dim,
                codebook_size=c.codebook_size,
                decay=c.ema_decay,
                commitment_weight=c.commitment_weight,
                # residual books always start from k-means of real residual latents, as released
                kmeans_init=c.kmeans_init or level > 0,
                threshold_ema_dead_code=c.dead_code_threshold,
                # EMA statistics and dead-code restarts all-reduced across processes when fitting with several
                sync_codebook=sync_codebooks,
            )
            for level in range(1 + c.rvq_stages)
        )
        self.decoder = Decoder(c)
        self.horizon = c.horizon

    def encode(
        self, actions: torch.Tensor, embodiment: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Normalized chunks (B, H, D) -> pre-quantization latents (B, num_tokens, latent_dim)."""
        return self.encoder(actions, embodiment, mask)

    def decode(
        self, quantized: torch.Tensor, embodiment: torch.Tensor, steps: int | None = None
    ) -> torch.Tensor:
        """Quantized latents (B, num_tokens, latent_dim) -> normalized chunks (B, steps or H, D)."""
        return self.decoder(quantized, embodiment, steps or self.horizon)

    def quantize(self, latents: torch.Tensor, levels: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Residual quantization through the first ``levels`` codebooks (no EMA update: eval use)."""
        residual, total, codes = latents, torch.zeros_like(latents), []
        for quantizer in self.quantizers[:levels]:
            quantized, indices, _ = quantizer(residual)
            total, residual = total + quantized, residual - quantized
            codes.append(indices)
        return total, codes

    def codes_to_latents(self, codes: list[torch.Tensor]) -> torch.Tensor:
        return sum(q.get_output_from_indices(c) for q, c in zip(self.quantizers, codes, strict=False))


class ContrastiveHead(nn.Module):
    """InfoNCE between a chunk's tokens and its observation (training only, not saved): the mean of the
    token latents and the observation feature are projected to a shared space, and each chunk must pick
    its own observation among the batch's (and each observation its chunk), at ``temperature``."""

    def __init__(self, feature_dim: int, dim: int, temperature: float) -> None:
        super().__init__()
        self.observation = nn.Sequential(nn.LayerNorm(feature_dim), nn.Linear(feature_dim, dim))
        self.tokens = nn.Linear(dim, dim)
        self.temperature = temperature

    def forward(self, latents: torch.Tensor, observations: torch.Tensor) -> torch.Tensor:
        a = nn.functional.normalize(self.tokens(latents.mean(1)), dim=-1)
        b = nn.functional.normalize(self.observation(observations), dim=-1)
        logits = a @ b.T / self.temperature
        target = torch.arange(logits.shape[0], device=logits.device)
        return 0.5 * (
            nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target)
        )
