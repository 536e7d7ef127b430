"""Fitting an ActionCodec: the base stage (encoder, decoder and primary codebook, with the overlap,
contrastive and any auxiliary term), the residual stage (RVQ levels with quantizer dropout), and the loop
machinery both share (each process's share of a batch, gradient averaging, fit-state checkpoints).

Imported only by :meth:`ActionCodecTokenizer.fit`, so importing ``vla.tokenizers`` stays free of torch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from vla.tokenizers.actioncodec.net import ContrastiveHead
from vla.tokenizers.base import TokenizerFitError

if TYPE_CHECKING:
    from vla.tokenizers.actioncodec.tokenizer import ActionCodecTokenizer, AuxLoss


def train(
    tok: ActionCodecTokenizer,
    array: np.ndarray,
    shifted_array: np.ndarray | None,
    embodiment: Any,
    aux_loss: AuxLoss | None,
    observations: np.ndarray | None,
    progress: bool,
    checkpoint_dir: str | Path | None,
    checkpoint_every: int,
) -> None:
    """Build ``tok.net`` and train it on the physical-unit chunks ``array`` (checked, statistics set)."""
    n = array.shape[0]
    embodiment_ids = tok._embodiment(embodiment, n)
    rank, world = _process_group()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(tok.config.seed)
        tok.net = tok._build_net(distributed=world > 1)
        x = tok._normalized(array)
        x_next = None if shifted_array is None else tok._normalized(shifted_array)
        # Each process draws its own share of every batch; process 0 of 1 draws what it always did.
        generator = torch.Generator().manual_seed(tok.config.seed + 7919 * rank)
        torch.manual_seed(tok.config.seed + 7919 * rank)
        tok.history = []
        if tok.uses_observations:
            aux_loss = _contrastive_term(tok, observations, aux_loss)
        _broadcast_from_first_process(tok.net, world)
        run = _FitRun(tok, generator, rank, world, progress, checkpoint_dir, checkpoint_every)
        _train_base(tok, x, x_next, embodiment_ids, run, aux_loss)
        if tok.config.rvq_stages:
            _train_residual(tok, x, embodiment_ids, run)
    if hasattr(tok.net, "contrastive_head"):
        del tok.net.contrastive_head
    tok._last_contrastive = None
    tok.net.eval()


def _contrastive_term(tok: ActionCodecTokenizer, observations: np.ndarray, other: AuxLoss | None) -> AuxLoss:
    """The InfoNCE term as an aux loss; its head's parameters join the optimizer through the net."""

    c = tok.config
    head = ContrastiveHead(observations.shape[1], c.latent_dim, c.contrastive_temperature).to(c.device)
    tok.net.contrastive_head = head  # trained with the net; dropped before saving
    features = torch.as_tensor(observations, device=c.device)

    def loss(latents: Any, indices: Any) -> Any:
        term = c.contrastive_weight * head(latents, features[indices.to(features.device)])
        tok._last_contrastive = term.detach()
        return term + (other(latents, indices) if other is not None else 0.0)

    return loss


def _optimizer(tok: ActionCodecTokenizer, params: list[Any]) -> tuple[Any, Any]:
    c = tok.config
    optimizer = torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)

    def schedule(step: int) -> float:  # linear warmup, cosine decay to 10%
        if step < c.warmup_steps:
            return (step + 1) / c.warmup_steps
        done = (step - c.warmup_steps) / max(1, c.steps - c.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def _train_base(
    tok: ActionCodecTokenizer, x: Any, x_next: Any, embodiment: Any, run: _FitRun, aux_loss: Any
) -> None:
    net, c = tok.net, tok.config
    net.train()
    quantizer = net.quantizers[0]
    # The codebooks are EMA buffers, not parameters; code_dim projections of the residual stages wait.
    params = [p for name, p in net.named_parameters() if not name.startswith("quantizers.")]
    params += list(quantizer.parameters())
    optimizer, scheduler = _optimizer(tok, params)
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
            if getattr(tok, "_last_contrastive", None) is not None:
                entry["contrastive"] = tok._last_contrastive.item()
            tok.history.append(entry)


def _train_residual(tok: ActionCodecTokenizer, x: Any, embodiment: Any, run: _FitRun) -> None:
    """Freeze encoder and primary codebook; fit the residual codebooks (k-means init on the first batch's
    real residuals, then EMA) and fine-tune the decoder. Quantizer dropout: a ``quantizer_dropout`` share
    of each batch is decoded from only its first ``n`` levels, ``n`` uniform in [1, levels]."""
    import torch

    net, c = tok.net, tok.config
    net.eval()
    for quantizer in net.quantizers[1:]:
        quantizer.train()
    params = [*net.decoder.parameters()]
    params += [p for quantizer in net.quantizers[1:] for p in quantizer.parameters()]
    optimizer, scheduler = _optimizer(tok, params)
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
            tok.history.append({"stage": 1, "step": step, "recon": recon.item(), "commit": commit.item()})


def _process_group() -> tuple[int, int]:
    """(rank, world size) of the torch process group, (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _broadcast_from_first_process(net: Any, world: int) -> None:
    if world > 1:
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
            for param in params:
                if param.grad is not None:
                    dist.all_reduce(param.grad)
                    param.grad /= self.world
        optimizer.step()
        scheduler.step()

    def _save(self, stage: int, step: int, optimizer: Any, scheduler: Any) -> None:
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
        state, tok = self.resume, self.tokenizer
        tok.net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        tok.history = list(state["history"])
