"""ActionCodec: a learned, fixed-length action tokenizer (Perceiver encoder/decoder + vector quantization),
with the architecture of the authors' released code (``configuration_actioncodec.py`` /
``modeling_actioncodec.py`` / ``modular_actioncodec.py`` on the Hub; see :mod:`vla.tokenizers._actioncodec_net`).
Defaults are the released Base: width 256, 6 layers, 8 heads, latent 512, 16 tokens, 2048 codes, EMA decay
0.99, commitment 0.25, k-means init, dead-code threshold 2; chunks of 1 s at 20 Hz.

Design follows the principles of the ActionCodec paper, as far as they can be learned from actions alone:

- *fixed, small token count*: ``num_tokens`` learned queries per embodiment summarize the whole chunk, and
  no query sees another (no self-attention among queries), so each token is computed independently;
- *temporal overlap*: chunks that start one step apart in an episode get their pre-quantization latents
  pulled together (``overlap_weight``; vla's addition, 0 switches it off), so consecutive chunks share tokens;
- *low vocabulary redundancy*: EMA codebook with k-means init and dead-code restarts;
- *embodiment soft prompts*: the query tokens themselves, one set per embodiment (``embodiment_names``).
- *multimodal mutual information*: with ``contrastive_weight > 0``, ``fit(..., observations=features)``
  adds an InfoNCE term between each chunk's token latents and its observation's features (the base VLM's
  vision encoder on the camera images and its text embeddings of the instruction, see
  :mod:`vla.model.observation_features`; ``fit_action_tokenizer`` computes and caches them), so tokens
  carry what the VLM can see. ``fit(..., aux_loss=...)`` takes any other auxiliary term: a callable that
  receives the latents and chunk indices of a batch and returns a scalar loss.

Residual levels (``rvq_stages > 0``), as the released RVQ post-training: after base training the encoder
and the primary codebook are frozen; each residual codebook is k-means-initialised on the real residual
latents of the first batch and updated by EMA while the decoder is fine-tuned, with quantizer dropout (a
``quantizer_dropout`` share of every batch decodes from a random number of levels, so every prefix of
levels decodes). All levels share the ids ``[0, codebook_size)`` (``vocab_size == codebook_size``); tokens
are laid out level-major: ``num_tokens`` level-0 tokens, then ``num_tokens`` per residual level, so
block-wise decoding with ``decoding_block_size = num_tokens`` predicts one level per block.

The authors' checkpoints (their ``config.json`` + ``model.safetensors``) load with
:meth:`ActionCodecTokenizer.from_released` (``AutoActionTokenizer.from_pretrained`` recognises the layout).

Weights are saved as ``actioncodec.safetensors`` next to ``action_tokenizer.json`` (config + statistics).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from vla.config import check, check_choice
from vla.tokenizers.base import ActionTokenizer, DecodeResult, InvalidTokensError, TokenizerFitError
from vla.tokenizers.normalize import FeatureStats

WEIGHTS_FILE = "actioncodec.safetensors"


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


AuxLoss = Callable[[Any, Any], Any]
"""``aux_loss(latents (B, num_tokens, dim) tensor, chunk_indices (B,) long tensor) -> scalar tensor``."""


class ActionCodecTokenizer(ActionTokenizer):
    """Fixed-length learned tokens: ``encode`` -> (N, num_tokens * (1 + rvq_stages)) ids, level-major, every
    level's ids in ``[0, codebook_size)``."""

    tokenizer_type = "actioncodec"
    fits_on_shifted_chunks = True
    config_class = ActionCodecConfig

    def __init__(self, config: ActionCodecConfig | None = None, **overrides: Any) -> None:
        self.config = config or ActionCodecConfig(**overrides)
        self.action_stats: FeatureStats | None = None
        self.net: Any = None  # ActionCodecNet, built on fit or load
        self.history: list[dict[str, float]] = []  # losses logged during fit, for inspection

    @property
    def vocab_size(self) -> int:
        return self.config.codebook_size

    @property
    def tokens_per_chunk(self) -> int:
        return self.config.num_tokens * (1 + self.config.rvq_stages)

    @property
    def is_fitted(self) -> bool:
        return self.action_stats is not None and self.net is not None

    @property
    def uses_observations(self) -> bool:
        return self.config.contrastive_weight > 0

    # -- helpers ------------------------------------------------------------------------------------
    def _build_net(self, distributed: bool = False) -> Any:
        from vla.tokenizers._actioncodec_net import ActionCodecNet

        return ActionCodecNet(self.config, sync_codebooks=distributed).to(self.config.device)

    def normalize(self, chunks: np.ndarray) -> np.ndarray:
        """Physical chunks -> what the network reads: q01/q99 (or ``action_scale``) to [-1, 1], clipped."""
        scale = self.config.action_scale
        normalized = chunks / np.asarray(scale) if scale else self.action_stats.normalize(chunks)
        return np.clip(normalized, -1.0, 1.0)

    def unnormalize(self, normalized: np.ndarray) -> np.ndarray:
        scale = self.config.action_scale
        return normalized * np.asarray(scale) if scale else self.action_stats.unnormalize(normalized)

    def _normalized(self, chunks: np.ndarray) -> Any:
        import torch

        return torch.as_tensor(self.normalize(chunks), dtype=torch.float32, device=self.config.device)

    def embodiment_id(self, embodiment: int | str) -> int:
        """The id of an embodiment given by id or by name (``embodiment_names``)."""
        names = self.config.embodiment_names
        if isinstance(embodiment, str):
            if embodiment not in names:
                raise ValueError(f"embodiment={embodiment!r} is invalid: expected one of {list(names)}")
            return names.index(embodiment)
        return int(embodiment)

    def _embodiment(self, embodiment: Any, n: int) -> Any:
        import torch

        if isinstance(embodiment, str):
            embodiment = self.embodiment_id(embodiment)
        values = np.array(np.broadcast_to(np.asarray(0 if embodiment is None else embodiment), (n,)))
        if values.size and (
            not np.issubdtype(values.dtype, np.integer)
            or values.min() < 0
            or values.max() >= self.config.num_embodiments
        ):
            raise ValueError(
                f"embodiment ids must be integers in [0, num_embodiments={self.config.num_embodiments}), "
                f"got {np.unique(values)[:5].tolist()}"
            )
        return torch.as_tensor(values, dtype=torch.long, device=self.config.device)

    def _as_input(self, chunks: Any) -> np.ndarray:
        array = np.asarray(chunks.detach().cpu().numpy() if hasattr(chunks, "detach") else chunks, np.float64)
        array = array[None] if array.ndim == 2 else array
        if array.ndim != 3 or array.shape[1:] != (self.horizon, self.action_dim):
            raise ValueError(
                f"chunks of shape {array.shape[1:]} given; expected ({self.horizon}, {self.action_dim})"
            )
        return array

    def _require_net(self) -> FeatureStats:
        stats = self._require_fitted()
        if self.net is None:
            raise RuntimeError(
                "ActionCodecTokenizer has statistics but no weights: load it with from_pretrained"
            )
        return stats

    # -- training -----------------------------------------------------------------------------------
    def fit(
        self,
        chunks: Any,
        shifted: Any = None,
        embodiment: Any = None,
        aux_loss: AuxLoss | None = None,
        progress: bool = True,
        observations: Any = None,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 0,
    ) -> Self:
        """Train on physical chunks (N, H, D). ``shifted[i]``, if given, is the chunk that starts one step
        after ``chunks[i]`` in the same episode (drives the overlap loss). ``embodiment``: an int or (N,)
        ids selecting soft prompts. ``observations`` (N, F): features of each chunk's observation, for
        the contrastive term (required when ``contrastive_weight > 0``). Deterministic for a given
        ``seed`` on CPU.

        Under ``accelerate launch`` (a process group exists) each process trains on its share of every
        batch, gradients are averaged and the EMA codebooks synchronized, so all processes hold the same
        tokenizer (save it from the main process only). With ``checkpoint_dir`` and ``checkpoint_every``
        the fit state is saved every that many steps, and a fit started with the same arguments resumes
        from it and ends with the same tokenizer as an uninterrupted fit."""
        import torch

        array = self._check_fit_data(chunks)
        if self.uses_observations:
            if observations is None:
                raise TokenizerFitError(
                    f"contrastive_weight={self.config.contrastive_weight} needs observations=(N, F) features "
                    "(vla.data.dataset.fit_action_tokenizer computes them); set contrastive_weight=0 to fit "
                    "on actions alone"
                )
            observations = np.asarray(observations, dtype=np.float32)
            if observations.ndim != 2 or observations.shape[0] != array.shape[0]:
                raise TokenizerFitError(
                    f"observations have shape {observations.shape}; expected ({array.shape[0]}, features), "
                    "one row per chunk"
                )
        shifted_array = None
        if shifted is not None:
            shifted_array = self._check_fit_data(shifted, min_chunks=0)
            if shifted_array.shape != array.shape:
                raise TokenizerFitError(
                    f"shifted has shape {shifted_array.shape}; it must match chunks {array.shape} row for row"
                )
        self.action_stats = FeatureStats.from_array(array.reshape(-1, self.action_dim), name="actions")
        n = array.shape[0]
        embodiment_ids = self._embodiment(embodiment, n)
        rank, world = _process_group()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            self.net = self._build_net(distributed=world > 1)
            x = self._normalized(array)
            x_next = None if shifted_array is None else self._normalized(shifted_array)
            # Each process draws its own share of every batch; process 0 of 1 draws what it always did.
            generator = torch.Generator().manual_seed(self.config.seed + 7919 * rank)
            torch.manual_seed(self.config.seed + 7919 * rank)
            self.history = []
            if self.uses_observations:
                aux_loss = self._contrastive_term(observations, aux_loss)
            _broadcast_from_first_process(self.net, world)
            run = _FitRun(self, generator, rank, world, progress, checkpoint_dir, checkpoint_every)
            self._train_base(x, x_next, embodiment_ids, run, aux_loss)
            if self.config.rvq_stages:
                self._train_residual(x, embodiment_ids, run)
        if hasattr(self.net, "contrastive_head"):
            del self.net.contrastive_head
        self._last_contrastive = None
        self.net.eval()
        return self

    def _contrastive_term(self, observations: np.ndarray, other: AuxLoss | None) -> AuxLoss:
        """The InfoNCE term as an aux loss; its head's parameters join the optimizer through the net."""
        import torch

        from vla.tokenizers._actioncodec_net import ContrastiveHead

        c = self.config
        head = ContrastiveHead(observations.shape[1], c.latent_dim, c.contrastive_temperature).to(c.device)
        self.net.contrastive_head = head  # trained with the net; dropped before saving
        features = torch.as_tensor(observations, device=c.device)

        def loss(latents: Any, indices: Any) -> Any:
            term = c.contrastive_weight * head(latents, features[indices.to(features.device)])
            self._last_contrastive = term.detach()
            return term + (other(latents, indices) if other is not None else 0.0)

        return loss

    def _optimizer(self, params: list[Any]) -> tuple[Any, Any]:
        import torch

        c = self.config
        optimizer = torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)

        def schedule(step: int) -> float:  # linear warmup, cosine decay to 10%
            if step < c.warmup_steps:
                return (step + 1) / c.warmup_steps
            done = (step - c.warmup_steps) / max(1, c.steps - c.warmup_steps)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))

        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    def _train_base(self, x: Any, x_next: Any, embodiment: Any, run: _FitRun, aux_loss: Any) -> None:
        import torch.nn.functional as F

        net, c = self.net, self.config
        net.train()
        quantizer = net.quantizers[0]
        # The codebooks are EMA buffers, not parameters; code_dim projections of the residual stages wait.
        params = [p for name, p in net.named_parameters() if not name.startswith("quantizers.")]
        params += list(quantizer.parameters())
        optimizer, scheduler = self._optimizer(params)
        for step, idx in run.steps(0, x.shape[0], optimizer, scheduler, "ActionCodec"):
            idx_dev = idx.to(x.device)
            batch, emb = x[idx_dev], embodiment[idx_dev]
            latents = net.encode(batch, emb)
            quantized, _, commit = quantizer(latents)
            recon = F.mse_loss(net.decode(quantized, emb), batch)
            loss = recon + commit
            overlap = latents.new_zeros(())
            if x_next is not None and c.overlap_weight > 0:
                overlap = F.mse_loss(latents, net.encode(x_next[idx_dev], emb))
                loss = loss + c.overlap_weight * overlap
            if aux_loss is not None:
                loss = loss + aux_loss(latents, idx)
            run.optimize(loss, params, optimizer, scheduler)
            if step % 50 == 0 or step == c.steps - 1:
                entry = {"stage": 0, "step": step, "recon": recon.item(), "commit": commit.item()}
                entry["overlap"] = overlap.item()
                if getattr(self, "_last_contrastive", None) is not None:
                    entry["contrastive"] = self._last_contrastive.item()
                self.history.append(entry)

    def _train_residual(self, x: Any, embodiment: Any, run: _FitRun) -> None:
        """Freeze encoder and primary codebook; fit the residual codebooks (k-means init on the first batch's
        real residuals, then EMA) and fine-tune the decoder. Quantizer dropout: a ``quantizer_dropout`` share
        of each batch is decoded from only its first ``n`` levels, ``n`` uniform in [1, levels]."""
        import torch
        import torch.nn.functional as F

        net, c = self.net, self.config
        net.eval()
        for quantizer in net.quantizers[1:]:
            quantizer.train()
        params = [*net.decoder.parameters()]
        params += [p for quantizer in net.quantizers[1:] for p in quantizer.parameters()]
        optimizer, scheduler = self._optimizer(params)
        levels = 1 + c.rvq_stages
        for step, idx in run.steps(1, x.shape[0], optimizer, scheduler, "ActionCodec residual"):
            idx_dev = idx.to(x.device)
            batch, emb = x[idx_dev], embodiment[idx_dev]
            with torch.no_grad():
                latents = net.encode(batch, emb)
                total, _ = net.quantize(latents, 1)
            kept = torch.full((len(idx),), levels, device=x.device)
            dropped = torch.rand(len(idx), generator=run.generator) < c.quantizer_dropout
            kept[dropped.to(x.device)] = torch.randint(
                1, levels + 1, (int(dropped.sum()),), generator=run.generator
            ).to(x.device)
            residual, commit = latents - total, latents.new_zeros(())
            for level, quantizer in enumerate(net.quantizers[1:], start=1):
                quantized, _, level_commit = quantizer(residual)
                keep = (level < kept).to(quantized.dtype)[:, None, None]
                total, residual = total + keep * quantized, residual - quantized
                commit = commit + level_commit
            recon = F.mse_loss(net.decode(total, emb), batch)
            run.optimize(recon + commit, params, optimizer, scheduler)
            if step % 50 == 0 or step == c.steps - 1:
                self.history.append(
                    {"stage": 1, "step": step, "recon": recon.item(), "commit": commit.item()}
                )

    # -- the interface ------------------------------------------------------------------------------
    def latents(self, chunks: Any, embodiment: Any = 0) -> np.ndarray:
        """Pre-quantization latents (N, num_tokens, latent_dim), e.g. for diagnostics or an observation loss."""
        import torch

        self._require_net()
        array = self._as_input(chunks)
        with torch.no_grad():
            out = self.net.encode(self._normalized(array), self._embodiment(embodiment, array.shape[0]))
        return out.cpu().numpy()

    def encode(self, chunks: Any, embodiment: Any = 0) -> np.ndarray:
        import torch

        self._require_net()
        array = self._as_input(chunks)
        self.net.eval()
        with torch.no_grad():
            latents = self.net.encode(self._normalized(array), self._embodiment(embodiment, array.shape[0]))
            _, codes = self.net.quantize(latents, 1 + self.config.rvq_stages)
        return np.concatenate([level.cpu().numpy().astype(np.int64) for level in codes], axis=1)

    def decode(self, ids: Any, strict: bool = False, embodiment: Any = 0) -> DecodeResult:
        """Any rows -> chunks. Wrong length: padded with code 0 / truncated. Ids outside [0, codebook_size):
        clipped into it. Either makes the row invalid (or raises if strict)."""
        import torch

        self._require_net()
        rows = self._as_id_rows(ids)
        t, k, levels = self.config.num_tokens, self.config.codebook_size, 1 + self.config.rvq_stages
        fixed = np.zeros((len(rows), self.tokens_per_chunk), dtype=np.int64)
        valid = np.ones(len(rows), dtype=bool)
        for i, row in enumerate(rows):
            take = min(row.shape[0], self.tokens_per_chunk)
            in_range = (row[:take] >= 0) & (row[:take] < k)
            if row.shape[0] != self.tokens_per_chunk or not in_range.all():
                if strict:
                    raise InvalidTokensError(
                        f"row {i}: expected {self.tokens_per_chunk} ids in [0, {k}); got {row.shape[0]} ids, "
                        f"{int((~in_range).sum())} out of range"
                    )
                valid[i] = False
            fixed[i, :take] = np.clip(row[:take], 0, k - 1)
        codes_np = fixed.reshape(len(rows), levels, t)
        self.net.eval()
        with torch.no_grad():
            codes = [torch.as_tensor(codes_np[:, s], device=self.config.device) for s in range(levels)]
            latents = self.net.codes_to_latents(codes)
            emb = self._embodiment(embodiment, len(rows))
            normalized = (
                self.net.decode(latents, emb).double().cpu().numpy()
                if rows
                else np.zeros((0, self.horizon, self.action_dim))
            )
        normalized = np.nan_to_num(normalized, nan=0.0, posinf=1.0, neginf=-1.0)
        return DecodeResult(self.unnormalize(normalized), valid)

    def codebook_vectors(self) -> list[np.ndarray]:
        """One (codebook_size, latent_dim) array per level (primary first): the vectors tokens stand for."""
        self._require_net()
        return [q.codebook.detach().cpu().numpy().copy() for q in self.net.quantizers]

    # -- the authors' checkpoints ------------------------------------------------------------------
    @classmethod
    def from_released(
        cls,
        folder: str | Path,
        embodiment: str | None = None,
        action_scale: tuple[float, ...] | None = None,
        device: str = "cpu",
    ) -> Self:
        """A tokenizer from a checkpoint folder in the authors' layout (``config.json`` + ``model.safetensors``)
        for one embodiment (default: LIBERO's). ``action_scale`` (signed, per dimension) replaces their LIBERO
        normalization, which is used by default for the LIBERO embodiment; other embodiments need it."""
        from safetensors.torch import load_file

        from vla.tokenizers import released_actioncodec as released

        folder = Path(folder)
        config = json.loads((folder / released.RELEASED_CONFIG).read_text())
        name = released.pick_embodiment(list(config["embodiment_config"]), embodiment)
        if action_scale is None:
            if name not in released.LIBERO_EMBODIMENTS:
                raise released.ReleasedCheckpointError(
                    f"action_scale=None is invalid for embodiment {name!r}: only LIBERO's normalization is "
                    "known; pass one signed scale per action dimension"
                )
            action_scale = released.LIBERO_ACTION_SCALE
        fields = released.config_fields(config, name)
        tokenizer = cls(ActionCodecConfig(**fields, action_scale=tuple(action_scale), device=device))
        state = released.state_dict(config, load_file(str(folder / released.RELEASED_WEIGHTS)), name)
        tokenizer.net = tokenizer._build_net()
        tokenizer.net.load_state_dict(state, strict=True)  # raises naming any of our keys left unset
        tokenizer.net.eval()
        scale = np.abs(np.asarray(action_scale, dtype=np.float64))
        zeros = np.zeros_like(scale)
        tokenizer.action_stats = FeatureStats(zeros, scale, -scale, scale, -scale, scale)
        return tokenizer

    # -- persistence --------------------------------------------------------------------------------
    def _save_pretrained(self, folder: Path) -> None:
        super()._save_pretrained(folder)
        if self.net is not None:
            from safetensors.torch import save_file

            state = {name: value.detach().cpu().contiguous() for name, value in self.net.state_dict().items()}
            save_file(state, str(folder / WEIGHTS_FILE))

    def _extra_state(self) -> dict[str, Any]:
        return {"weights": WEIGHTS_FILE} if self.net is not None else {}

    def _load_extra_state(self, state: dict[str, Any], folder: Path) -> None:
        if "weights" not in state:
            return
        file = folder / state["weights"]
        if not file.is_file():
            raise FileNotFoundError(
                f"{folder} is an ActionCodec tokenizer folder without its weights {file.name}"
            )
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from vla.hub import BrokenArtifactError

        self.net = self._build_net()
        try:
            weights = load_file(str(file), device=self.config.device)
        except (SafetensorError, OSError) as err:
            raise BrokenArtifactError(
                f"{file} cannot be read ({err}): truncated or corrupted; save, download or fit it again"
            ) from None
        self.net.load_state_dict(weights)
        self.net.eval()


# -- distributed fitting and checkpoints -----------------------------------------------------------
def _process_group() -> tuple[int, int]:
    """(rank, world size) of the torch process group, (0, 1) without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _broadcast_from_first_process(net: Any, world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        for tensor in [*net.parameters(), *net.buffers()]:
            dist.broadcast(tensor.data, src=0)


class _FitRun:
    """The loop machinery both training stages share: each process's share of a batch, gradient
    averaging across processes, progress bar on the main process, periodic fit-state checkpoints (one
    file per process: model, optimizer, schedule, batch sampler and RNG) and resuming from them."""

    def __init__(
        self, tokenizer, generator, rank: int, world: int, progress: bool, folder, every: int
    ) -> None:
        self.tokenizer, self.generator, self.rank, self.world = tokenizer, generator, rank, world
        self.progress, self.every = progress and rank == 0, every
        self.folder = None if folder is None else Path(folder)
        self.resume = self._load_state()

    @property
    def _file(self) -> Path:
        return self.folder / f"actioncodec-fit-rank{self.rank}.pt"

    def _load_state(self) -> dict[str, Any] | None:
        import torch

        if self.folder is None or not self._file.is_file():
            return None
        state = torch.load(self._file, weights_only=False)
        if state["world"] != self.world or state["config"] != self.tokenizer.config:
            raise TokenizerFitError(
                f"{self._file} was written by a fit with {state['world']} process(es) and config "
                f"{state['config']}; resume with the same settings or delete {self.folder}"
            )
        return state

    def steps(self, stage: int, n: int, optimizer: Any, scheduler: Any, desc: str) -> Any:
        """Yields (step, this process's batch indices), skipping what a resumed checkpoint already did."""
        import torch
        from tqdm.auto import tqdm

        c, first = self.tokenizer.config, 0
        if self.resume is not None and self.resume["stage"] >= stage:
            if self.resume["stage"] > stage:
                return  # this stage finished before the checkpoint
            self._restore(optimizer, scheduler)
            first = self.resume["step"] + 1
            self.resume = None
        per_process = -(-c.batch_size // self.world)
        bar = tqdm(range(first, c.steps), desc=desc, disable=not self.progress, mininterval=1.0)
        for step in bar:
            yield step, torch.randint(0, n, (per_process,), generator=self.generator)
            if (
                self.folder is not None
                and self.every
                and ((step + 1) % self.every == 0 or step == c.steps - 1)
            ):
                self._save(stage, step, optimizer, scheduler)

    def optimize(self, loss: Any, params: list[Any], optimizer: Any, scheduler: Any) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.world > 1:
            import torch.distributed as dist

            for param in params:
                if param.grad is not None:
                    dist.all_reduce(param.grad)
                    param.grad /= self.world
        optimizer.step()
        scheduler.step()

    def _save(self, stage: int, step: int, optimizer: Any, scheduler: Any) -> None:
        import torch

        self.folder.mkdir(parents=True, exist_ok=True)
        tok = self.tokenizer
        state = {
            "stage": stage, "step": step, "world": self.world, "config": tok.config,
            "net": tok.net.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(), "history": tok.history,
        }  # fmt: skip
        tmp = self._file.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self._file)  # atomic: a checkpoint is whole or absent

    def _restore(self, optimizer: Any, scheduler: Any) -> None:
        import torch

        state, tok = self.resume, self.tokenizer
        tok.net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        tok.history = list(state["history"])
