"""ActionCodec: a learned, fixed-length action tokenizer (Perceiver-style transformer + vector quantization).

Design follows the principles of the ActionCodec paper (what makes a good tokenizer for an autoregressive
VLA), as far as they can be learned from actions alone:

- *fixed, small token count*: ``num_tokens`` learned queries summarize the whole chunk, so each token
  describes the motion, not one time step (unlike binning) and the length never varies (unlike FAST);
- *temporal overlap*: chunks that start one step apart in an episode get their pre-quantization latents
  pulled together (``overlap_weight``), so consecutive chunks share tokens and the model can reuse them;
- *low vocabulary redundancy*: EMA codebook with dead-code restarts (``dead_code_threshold``) keeps codes
  in use and apart; ``vla.tokenizers.diagnostics`` measures near-duplicate codes;
- *embodiment soft prompts*: ``num_embodiments`` learned prompts prepended to encoder and decoder inputs.

- *multimodal mutual information*: with ``contrastive_weight > 0``, ``fit(..., observations=features)``
  adds an InfoNCE term between each chunk's token latents and its observation's features (the base VLM's
  vision encoder on the camera images and its text embeddings of the instruction, see
  :mod:`vla.model.observation_features`; ``fit_action_tokenizer`` computes and caches them), so tokens
  carry what the VLM can see. ``fit(..., aux_loss=...)`` takes any other auxiliary term: a callable that
  receives the latents and chunk indices of a batch and returns a scalar loss.

Optional residual stages (``rvq_stages > 0``): after base training, the encoder and base codebook are
frozen and ``rvq_stages`` residual codebooks (EMA) plus the decoder are trained on what the base codes
miss. Token layout is stage-major: ``num_tokens`` base tokens, then ``num_tokens`` tokens per residual
stage. Stage ``s`` ids are offset by ``s * codebook_size``, so ``vocab_size = codebook_size * (1 +
rvq_stages)`` and the base ids are unchanged by the residual training.

Weights are saved as ``actioncodec.safetensors`` next to ``action_tokenizer.json`` (config + statistics).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from vla.config import check, check_choice
from vla.data.normalize import FeatureStats
from vla.tokenizers.base import ActionTokenizer, DecodeResult, InvalidTokensError, TokenizerFitError

WEIGHTS_FILE = "actioncodec.safetensors"


@dataclass(frozen=True)
class ActionCodecConfig:
    """Architecture (dim, depth, heads, num_tokens, codebook_size, code_dim, prompts, rvq_stages), losses
    (commitment, overlap), codebook upkeep (EMA decay, k-means init, dead-code threshold: codes whose EMA
    usage falls below it are restarted from batch latents) and training (lr, steps, batch, seed, device).
    ``code_dim=0`` quantizes in the model width: on synthetic chunks a projection to 8 or 4 dims
    reconstructed worse (measured with dim 32, 64 codes)."""

    horizon: int = 8
    action_dim: int = 7
    num_tokens: int = 16
    codebook_size: int = 2048
    code_dim: int = 0  # 0: quantize in the model width; k > 0: project to k dims to look codes up
    dim: int = 128
    depth: int = 2
    heads: int = 4
    num_embodiments: int = 1
    prompt_len: int = 4
    rvq_stages: int = 0
    commitment_weight: float = 0.1
    overlap_weight: float = 0.1
    #: InfoNCE between tokens and observation features; 0 switches it (and the feature computation) off.
    contrastive_weight: float = 0.0
    contrastive_temperature: float = 0.1
    #: Base VLM whose encoders give the observation features (preset, folder or Hub id).
    observation_model: str = "tiny"
    ema_decay: float = 0.9
    kmeans_init: bool = False
    dead_code_threshold: float = 1.0
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    steps: int = 3000
    batch_size: int = 256
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        positive = ("horizon", "action_dim", "num_tokens", "dim", "depth", "heads", "num_embodiments")
        for name in positive + ("steps", "batch_size"):
            check(getattr(self, name) >= 1, name, getattr(self, name), "must be >= 1")
        check(2 <= self.codebook_size <= 65536, "codebook_size", self.codebook_size, "must be in [2, 65536]")
        check(self.dim % self.heads == 0, "heads", self.heads, f"must divide dim={self.dim}")
        check(
            0 <= self.code_dim <= self.dim,
            "code_dim",
            self.code_dim,
            f"must be in [0, dim={self.dim}] (0: dim)",
        )
        check(self.prompt_len >= 0, "prompt_len", self.prompt_len, "must be >= 0")
        check(0 <= self.rvq_stages <= 8, "rvq_stages", self.rvq_stages, "must be in [0, 8]")
        check(
            self.contrastive_temperature > 0,
            "contrastive_temperature",
            self.contrastive_temperature,
            "must be > 0",
        )
        weights = ("commitment_weight", "overlap_weight", "contrastive_weight", "dead_code_threshold")
        for name in (*weights, "weight_decay"):
            check(getattr(self, name) >= 0, name, getattr(self, name), "must be >= 0")
        check(0 < self.ema_decay < 1, "ema_decay", self.ema_decay, "must be in (0, 1)")
        check(self.lr > 0, "lr", self.lr, "must be > 0")
        check(self.warmup_steps >= 0, "warmup_steps", self.warmup_steps, "must be >= 0")
        check_choice("device", self.device.split(":")[0], ("cpu", "cuda", "mps"))


AuxLoss = Callable[[Any, Any], Any]
"""``aux_loss(latents (B, num_tokens, dim) tensor, chunk_indices (B,) long tensor) -> scalar tensor``."""


class ActionCodecTokenizer(ActionTokenizer):
    """Fixed-length learned tokens: ``encode`` -> (N, num_tokens * (1 + rvq_stages)) ids, stage-major."""

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
        return self.config.codebook_size * (1 + self.config.rvq_stages)

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

    def _normalized(self, chunks: np.ndarray) -> Any:
        import torch

        normalized = np.clip(self.action_stats.normalize(chunks), -1.0, 1.0)
        return torch.as_tensor(normalized, dtype=torch.float32, device=self.config.device)

    def _embodiment(self, embodiment: Any, n: int) -> Any:
        import torch

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
        head = ContrastiveHead(observations.shape[1], c.dim, c.contrastive_temperature).to(c.device)
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
        """Freeze encoder and base codebook; fit residual codebooks (EMA) and fine-tune the decoder."""
        import torch
        import torch.nn.functional as F

        net, c = self.net, self.config
        net.eval()
        for quantizer in net.quantizers[1:]:
            quantizer.train()
        decoder_params = [net.decoder_prompts, net.token_position, net.time_queries]
        decoder_params += [*net.decoder.parameters(), *net.action_out.parameters()]
        decoder_params += [p for quantizer in net.quantizers[1:] for p in quantizer.parameters()]
        optimizer, scheduler = self._optimizer(decoder_params)
        for step, idx in run.steps(1, x.shape[0], optimizer, scheduler, "ActionCodec residual"):
            idx_dev = idx.to(x.device)
            batch, emb = x[idx_dev], embodiment[idx_dev]
            with torch.no_grad():
                latents = net.encode(batch, emb)
                total, _ = net.quantize(latents, 1)
            residual, commit = latents - total, latents.new_zeros(())
            for quantizer in net.quantizers[1:]:
                quantized, _, stage_commit = quantizer(residual)
                total, residual = total + quantized, residual - quantized
                commit = commit + stage_commit
            recon = F.mse_loss(net.decode(total, emb), batch)
            run.optimize(recon + commit, decoder_params, optimizer, scheduler)
            if step % 50 == 0 or step == c.steps - 1:
                self.history.append(
                    {"stage": 1, "step": step, "recon": recon.item(), "commit": commit.item()}
                )

    # -- the interface ------------------------------------------------------------------------------
    def latents(self, chunks: Any, embodiment: Any = 0) -> np.ndarray:
        """Pre-quantization latents (N, num_tokens, dim), e.g. for diagnostics or an observation loss."""
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
        k = self.config.codebook_size
        ids = [stage_codes.cpu().numpy().astype(np.int64) + s * k for s, stage_codes in enumerate(codes)]
        return np.concatenate(ids, axis=1)

    def decode(self, ids: Any, strict: bool = False, embodiment: Any = 0) -> DecodeResult:
        """Any rows -> chunks. Wrong length: pad with each stage's code 0 / truncate. Ids outside a
        position's stage range: clipped into it. Either makes the row invalid (or raises if strict)."""
        import torch

        stats = self._require_net()
        rows = self._as_id_rows(ids)
        t, k, stages = self.config.num_tokens, self.config.codebook_size, 1 + self.config.rvq_stages
        offsets = np.repeat(np.arange(stages) * k, t)
        fixed = np.tile(offsets, (len(rows), 1))
        valid = np.ones(len(rows), dtype=bool)
        for i, row in enumerate(rows):
            take = min(row.shape[0], self.tokens_per_chunk)
            local = row[:take] - offsets[:take]
            in_range = (local >= 0) & (local < k)
            ok = row.shape[0] == self.tokens_per_chunk and bool(in_range.all())
            if not ok:
                if strict:
                    raise InvalidTokensError(
                        f"row {i}: expected {self.tokens_per_chunk} ids, position p in "
                        f"[{k}*s, {k}*(s+1)) for stage s = p // {t}; got {row.shape[0]} ids, "
                        f"{int((~in_range).sum())} out of their stage's range"
                    )
                valid[i] = False
            fixed[i, :take] = np.clip(local, 0, k - 1) + offsets[:take]
        codes_np = (fixed - offsets).reshape(len(rows), stages, t)
        self.net.eval()
        with torch.no_grad():
            codes = [torch.as_tensor(codes_np[:, s], device=self.config.device) for s in range(stages)]
            latents = self.net.codes_to_latents(codes)
            emb = self._embodiment(embodiment, len(rows))
            normalized = (
                self.net.decode(latents, emb).double().cpu().numpy()
                if rows
                else np.zeros((0, self.horizon, self.action_dim))
            )
        normalized = np.nan_to_num(normalized, nan=0.0, posinf=1.0, neginf=-1.0)
        return DecodeResult(stats.unnormalize(normalized), valid)

    def codebook_vectors(self) -> list[np.ndarray]:
        """One (codebook_size, dim) array per stage (base first): the vectors tokens stand for."""
        self._require_net()
        return [q.codebook.detach().cpu().numpy().copy() for q in self.net.quantizers]

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
        from safetensors.torch import load_file

        self.net = self._build_net()
        self.net.load_state_dict(load_file(str(file), device=self.config.device))
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
