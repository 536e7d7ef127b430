"""The ActionCodec network (torch). Imported only inside ActionCodecTokenizer methods, so that importing
``vla.tokenizers`` stays free of torch and vector_quantize_pytorch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from vector_quantize_pytorch import VectorQuantize

if TYPE_CHECKING:
    from vla.tokenizers.actioncodec import ActionCodecConfig


def _transformer(dim: int, heads: int, depth: int) -> nn.TransformerDecoder:
    """Queries self-attend, then cross-attend to a context: a Perceiver block (pre-norm, no dropout)."""
    layer = nn.TransformerDecoderLayer(
        dim, heads, dim_feedforward=4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerDecoder(layer, depth, norm=nn.LayerNorm(dim))


def _embedding(*shape: int) -> nn.Parameter:
    # Unit scale, not the usual 0.02: attention is permutation-invariant, so time steps and token
    # positions are told apart only by these embeddings; tiny ones left the model blind to order and
    # reconstruction stalled at ~10x the error (measured on synthetic chunks).
    return nn.Parameter(torch.randn(*shape))


class ActionCodecNet(nn.Module):
    """Encoder: ``num_tokens`` learned queries read [soft prompt; chunk steps + time embedding] and each
    becomes one latent, quantized to one code. Decoder: one learned query per time step reads
    [soft prompt; quantized latents + position embedding] and outputs that step's action."""

    def __init__(self, c: ActionCodecConfig, sync_codebooks: bool = False) -> None:
        super().__init__()
        self.action_in = nn.Linear(c.action_dim, c.dim)
        self.time_embed = _embedding(c.horizon, c.dim)
        self.encoder_prompts = _embedding(c.num_embodiments, c.prompt_len, c.dim)
        self.token_queries = _embedding(c.num_tokens, c.dim)
        self.encoder = _transformer(c.dim, c.heads, c.depth)
        self.to_latent = nn.Linear(c.dim, c.dim)
        self.quantizers = nn.ModuleList(
            VectorQuantize(
                dim=c.dim,
                codebook_size=c.codebook_size,
                codebook_dim=c.code_dim or c.dim,
                decay=c.ema_decay,
                commitment_weight=c.commitment_weight,
                kmeans_init=c.kmeans_init,
                threshold_ema_dead_code=c.dead_code_threshold,
                # EMA statistics and dead-code restarts all-reduced across processes when fitting with several
                sync_codebook=sync_codebooks,
            )
            for _ in range(1 + c.rvq_stages)
        )
        self.decoder_prompts = _embedding(c.num_embodiments, c.prompt_len, c.dim)
        self.token_position = _embedding(c.num_tokens, c.dim)
        self.time_queries = _embedding(c.horizon, c.dim)
        self.decoder = _transformer(c.dim, c.heads, c.depth)
        self.action_out = nn.Linear(c.dim, c.action_dim)

    def encode(self, actions: torch.Tensor, embodiment: torch.Tensor) -> torch.Tensor:
        """Normalized chunks (B, H, D) -> pre-quantization latents (B, num_tokens, dim)."""
        steps = self.action_in(actions) + self.time_embed
        context = torch.cat([self.encoder_prompts[embodiment], steps], dim=1)
        queries = self.token_queries.expand(actions.shape[0], -1, -1)
        return self.to_latent(self.encoder(queries, context))

    def decode(self, quantized: torch.Tensor, embodiment: torch.Tensor) -> torch.Tensor:
        """Quantized latents (B, num_tokens, dim) -> normalized chunks (B, H, D)."""
        memory = torch.cat([self.decoder_prompts[embodiment], quantized + self.token_position], dim=1)
        queries = self.time_queries.expand(quantized.shape[0], -1, -1)
        return self.action_out(self.decoder(queries, memory))

    def quantize(self, latents: torch.Tensor, stages: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Residual quantization through the first ``stages`` codebooks (no EMA update: eval use)."""
        residual, total, codes = latents, torch.zeros_like(latents), []
        for quantizer in self.quantizers[:stages]:
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
