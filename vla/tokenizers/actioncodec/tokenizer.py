"""ActionCodec: a learned, fixed-length action tokenizer (Perceiver encoder/decoder + vector quantization),
with the architecture of the authors' released code (``configuration_actioncodec.py`` /
``modeling_actioncodec.py`` / ``modular_actioncodec.py`` on the Hub; see :mod:`vla.tokenizers.actioncodec.net`).
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

from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import numpy as np

from vla.tokenizers.actioncodec.config import ActionCodecConfig
from vla.tokenizers.base import (
    ActionTokenizer,
    DecodeResult,
    InvalidTokensError,
    TokenizerFitError,
    register_tokenizer,
)
from vla.tokenizers.normalize import FeatureStats

WEIGHTS_FILE = "actioncodec.safetensors"


AuxLoss = Callable[[Any, Any], Any]
"""``aux_loss(latents (B, num_tokens, dim) tensor, chunk_indices (B,) long tensor) -> scalar tensor``."""


@register_tokenizer
class ActionCodecTokenizer(ActionTokenizer):
    """Fixed-length learned tokens: ``encode`` -> (N, num_tokens * (1 + rvq_stages)) ids, level-major, every
    level's ids in ``[0, codebook_size)``."""

    tokenizer_type = "actioncodec"
    fits_on_shifted_chunks = True
    fit_checkpoints = True
    # LayerScale 1 and a fast-following codebook: the released 1e-2 / 0.99 learn slowly at this size.
    tiny_options = dict(dim=32, heads=4, depth=1, latent_dim=32, num_tokens=8, codebook_size=64, lr=1e-2,
                        steps=40, batch_size=64, warmup_steps=5, layer_scale=1.0, ema_decay=0.9)  # fmt: skip
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

    @classmethod
    def fit_needs_observations(cls, options: dict[str, Any]) -> bool:
        return bool(options.get("contrastive_weight", ActionCodecConfig.contrastive_weight))

    # -- helpers ------------------------------------------------------------------------------------
    def _build_net(self, distributed: bool = False) -> Any:
        from vla.tokenizers.actioncodec.net import ActionCodecNet

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

        array = self._check_fit_data(chunks)
        if self.uses_observations:
            if observations is None:
                raise TokenizerFitError(
                    f"contrastive_weight={self.config.contrastive_weight} needs observations=(N, F) features "
                    "(vla.train.tokenizer.fit_action_tokenizer computes them); set contrastive_weight=0 to fit "
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
        from vla.tokenizers.actioncodec import fit

        fit.train(self, array, shifted_array, embodiment, aux_loss, observations, progress, checkpoint_dir,
                  checkpoint_every)  # fmt: skip
        return self

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
        from vla.tokenizers.actioncodec.released import load_released

        return load_released(cls, Path(folder), embodiment, action_scale, device)

    @classmethod
    def from_foreign_folder(cls, folder: Path) -> Self | None:
        from vla.tokenizers.actioncodec.released import is_released_folder

        return cls.from_released(folder) if is_released_folder(folder) else None  # LIBERO's embodiment

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
