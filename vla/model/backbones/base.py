"""The Backbone interface: what VLAPolicy needs to know about one family of Hugging Face VLMs.

A backbone loads a model and its processor (by preset name, local folder or Hub repo id), sets the
processor up (image size, one tile per image), knows its image-token layout (tokens per image), where its
vision encoder and text-model projections are, which token ends the assistant's turn, and any dtype or
attention fix-up the family needs. Everything else (vocabulary extension, decoding, saving) is generic.

Adding a family is one new file in this folder: a :class:`Backbone` subclass under
``@register_backbone``, naming the ``model_type`` values of its ``config.json`` and, optionally, its
real-size presets and offline-built (embedded) stand-ins. The package ``__init__`` imports the built-in
families so that they register; this module never imports them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class ModelPreset:
    """A named real-size base model: where its weights come from and its published architecture, so that
    code paths, tests and GPU benchmarks (random weights, no download) agree on the real model's shape."""

    name: str
    #: Hub repo id or local folder.
    source: str
    #: Registry name of the :class:`Backbone` family.
    backbone: str
    #: The transformers config class the architecture below fills in (``SmolVLMConfig``, ``LlavaConfig``).
    config_class: str
    text: dict[str, Any] = field(default_factory=dict)
    vision: dict[str, Any] = field(default_factory=dict)
    top: dict[str, Any] = field(default_factory=dict)
    #: Processor options: one image = one tile (no splitting), as a robot policy wants.
    processor_kwargs: dict[str, Any] = field(default_factory=dict)

    def build_config(self):
        """The architecture as its transformers config (for random-weight benchmarks and checks)."""
        import transformers

        cls = getattr(transformers, self.config_class)
        return cls(text_config=dict(self.text), vision_config=dict(self.vision), **self.top)

    @property
    def image_tokens_per_image(self) -> int:
        return get_backbone(self.backbone).tokens_per_image(self.build_config())


class Backbone:
    """One VLM family behind VLAPolicy (stateless: one instance per family)."""

    #: Registry name (``smolvlm``, ``llava``).
    name: ClassVar[str] = ""
    #: ``model_type`` values of the ``config.json`` files this family loads.
    model_types: ClassVar[tuple[str, ...]] = ()
    #: Real-size presets by name.
    presets: ClassVar[dict[str, ModelPreset]] = {}
    #: Names of the offline-built stand-ins (``tiny``): built on first use by :meth:`build_embedded`.
    embedded: ClassVar[tuple[str, ...]] = ()
    #: The token that closes the assistant's turn: it ends variable-length action rows.
    end_token: ClassVar[str] = ""
    #: Default LoRA target (regex on module names): the text model's attention and MLP projections.
    lora_target: ClassVar[str] = ""

    # -- loading -------------------------------------------------------------------------------------
    def load_processor(self, source: str | Path, base_model: str | None = None):
        """The processor from ``source``, set up by the preset's options when ``base_model`` names one."""
        from transformers import AutoProcessor

        preset = self.presets.get(base_model) if base_model is not None else None
        return AutoProcessor.from_pretrained(source, **(preset.processor_kwargs if preset else {}))

    def load_model(self, source: str | Path, attn_implementation: str | None = None):
        """The model in float32 (mixed precision is autocast's job)."""
        import torch
        from transformers import AutoModelForImageTextToText

        kwargs = {} if attn_implementation is None else {"attn_implementation": attn_implementation}
        model = AutoModelForImageTextToText.from_pretrained(source, dtype=torch.float32, **kwargs)
        self.fix_dtypes(model)
        return model

    def build_embedded(self, name: str, folder: Path) -> None:
        """Write the embedded model ``name`` (random weights) and its processor to ``folder``, offline."""
        raise NotImplementedError(f"the {self.name} backbone has no embedded models")

    def embedded_version(self, name: str) -> int:
        """Bump when an embedded model changes, so caches built by older code are not reused."""
        return 1

    # -- image-token layout ----------------------------------------------------------------------------
    def tokens_per_image(self, config) -> int:
        """Image tokens one camera image becomes in the prompt, from the model's config."""
        raise NotImplementedError

    def vision_encoder(self, model):
        """The vision encoder module (frozen by ``finetune=frozen_vision``; observation features)."""
        raise NotImplementedError

    def image_features(self, model, pixel_values):
        """(images, tokens, dim) vision-encoder output for a batch of processed images (C, H, W each)."""
        return self.vision_encoder(model)(pixel_values=pixel_values).last_hidden_state

    # -- fix-ups ---------------------------------------------------------------------------------------
    def fix_dtypes(self, model) -> None:
        """Whatever the family needs to train under autocast (nothing by default)."""

    def end_token_id(self, text_tokenizer) -> int:
        return int(text_tokenizer.convert_tokens_to_ids(self.end_token))

    def resize_vocabulary(self, model, size: int) -> None:
        """Embedding and output matrices of ``size`` rows (new rows are set by the caller)."""
        model.resize_token_embeddings(size, mean_resizing=False)


#: Registered families by name.
BACKBONES: dict[str, Backbone] = {}


def register_backbone[T: type[Backbone]](cls: T) -> T:
    """Class decorator: make a :class:`Backbone` family loadable by its name, model types and presets."""
    if not cls.name or not cls.model_types:
        raise TypeError(f"{cls.__name__} must set name and model_types to register")
    for other in BACKBONES.values():
        clash = (set(other.presets) | set(other.embedded)) & (set(cls.presets) | set(cls.embedded))
        if other.name != cls.name and clash:
            raise ValueError(
                f"base model name(s) {sorted(clash)} already belong to the {other.name} backbone"
            )
    BACKBONES[cls.name] = cls()
    return cls


def get_backbone(name: str) -> Backbone:
    if name not in BACKBONES:
        raise KeyError(f"unknown backbone {name!r}; registered: {sorted(BACKBONES)}")
    return BACKBONES[name]


def find_preset(name: str) -> ModelPreset | None:
    for backbone in BACKBONES.values():
        if name in backbone.presets:
            return backbone.presets[name]
    return None


def _embedded_owner(name: str) -> Backbone | None:
    return next((b for b in BACKBONES.values() if name in b.embedded), None)


def embedded_names() -> tuple[str, ...]:
    return tuple(n for b in BACKBONES.values() for n in b.embedded)


def backbone_for(name_or_path: str, folder: str | Path | None = None) -> Backbone:
    """The family of a base model: a preset or embedded name's owner, else the ``model_type`` in the
    ``config.json`` of ``folder`` (a checkpoint) or of the resolved model source."""
    known = _embedded_owner(name_or_path) or next(
        (b for b in BACKBONES.values() if name_or_path in b.presets), None
    )
    if known is not None and folder is None:
        return known
    config = Path(folder if folder is not None else resolve_model_source(name_or_path)) / "config.json"
    if not config.is_file():
        if known is not None:
            return known
        raise FileNotFoundError(f"{config.parent} has no config.json: not a Hugging Face model folder")
    model_type = json.loads(config.read_text()).get("model_type")
    for backbone in BACKBONES.values():
        if model_type in backbone.model_types:
            return backbone
    supported = sorted(t for b in BACKBONES.values() for t in b.model_types)
    raise ValueError(
        f"{name_or_path}: model_type {model_type!r} has no vla backbone; supported: {supported} "
        "(add one: a Backbone subclass in vla/model/backbones/)"
    )


def write_embedded_model(
    folder: str | Path, processor: Any, build_config: Any, model_class: Any, seed: int
) -> Path:
    """Save an offline-built model (random weights from ``seed``) and its ``processor`` to ``folder``: the
    config comes from ``build_config(vocab_size, image_token_id, pad_token_id, eos_token_id)`` read off the
    processor's text tokenizer, so the vocabulary and special tokens always agree."""
    import torch

    folder = Path(folder)
    tok = processor.tokenizer
    config = build_config(
        vocab_size=len(tok),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(seed)
    model = model_class(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def cache_root() -> Path:
    import os

    return Path(os.environ.get("VLA_CACHE", Path.home() / ".cache" / "vla"))


def embedded_model_path(name: str) -> Path:
    """Folder of the embedded model ``name``, built once and cached (atomically: parallel callers are safe)."""
    import shutil
    import tempfile

    backbone = _embedded_owner(name)
    if backbone is None:
        raise KeyError(f"unknown embedded model {name!r}; known: {embedded_names()}")
    target = cache_root() / f"{name}-{backbone.name}-v{backbone.embedded_version(name)}"
    if not (target / "config.json").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
        try:
            backbone.build_embedded(name, tmp)
            try:
                tmp.rename(target)
            except OSError:  # another process finished first
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model_source(name_or_path: str) -> str | Path:
    """Map a preset name, a local folder or a Hub repo id to what ``from_pretrained`` can load offline.

    Embedded names (``tiny``, ``small``, ``tiny-llava``) build (once, cached) the offline stand-ins; a Hub id
    resolves through the local cache first and fails fast with instructions when neither cache nor
    network has it.
    """
    from vla.hub import resolve_pretrained

    if _embedded_owner(name_or_path) is not None:
        return embedded_model_path(name_or_path)
    preset = find_preset(name_or_path)
    return resolve_pretrained(preset.source if preset else name_or_path, kind="base model")


def hub_repo_id(name_or_path: str) -> str | None:
    """The Hub repo id a base model or a dataset is known by, for model cards and LoRA adapters: a preset's
    source, or the name itself when it is a repo id. ``None`` for the embedded stand-ins and local folders
    (a cache path would mean nothing on another machine)."""
    if _embedded_owner(name_or_path) is not None:
        return None
    preset = find_preset(name_or_path)
    if preset is not None:
        return preset.source
    if Path(name_or_path).expanduser().exists() or name_or_path.count("/") != 1:
        return None
    return name_or_path
