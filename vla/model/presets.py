"""Named base models: the real SmolVLM2-2.2B and the tiny offline stand-in built with the same classes.

A preset says where the weights come from and what the architecture is, so that code paths, tests and
GPU benchmarks (random weights, no download) all agree on the shape of the real model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SMOLVLM2_REPO_ID = "HuggingFaceTB/SmolVLM2-2.2B-Instruct"

#: Published SmolVLM2-2.2B-Instruct architecture (its config.json); SmolVLMConfig() defaults differ.
SMOLVLM2_2B_TEXT = dict(
    model_type="llama",
    hidden_size=2048,
    intermediate_size=8192,
    num_hidden_layers=24,
    num_attention_heads=32,
    num_key_value_heads=32,
    head_dim=64,
    vocab_size=49280,
    max_position_embeddings=8192,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
    pad_token_id=2,
    bos_token_id=0,
    eos_token_id=49279,
)
SMOLVLM2_2B_VISION = dict(
    hidden_size=1152,
    intermediate_size=4304,
    num_hidden_layers=27,
    num_attention_heads=16,
    patch_size=14,
    image_size=384,
)
SMOLVLM2_2B = dict(scale_factor=3, image_token_id=49190, tie_word_embeddings=False, pad_token_id=2)


@dataclass(frozen=True)
class ModelPreset:
    name: str
    #: Hub repo id or local folder; ``None`` for presets built locally (the tiny model).
    source: str | None
    text: dict[str, Any] = field(default_factory=dict)
    vision: dict[str, Any] = field(default_factory=dict)
    top: dict[str, Any] = field(default_factory=dict)
    #: Processor options: one image = one tile (no splitting), as a robot policy wants.
    processor_kwargs: dict[str, Any] = field(default_factory=dict)

    def build_config(self):
        """The architecture as a ``SmolVLMConfig`` (for random-weight benchmarks and checks)."""
        from transformers import SmolVLMConfig

        return SmolVLMConfig(text_config=dict(self.text), vision_config=dict(self.vision), **self.top)

    @property
    def image_tokens_per_image(self) -> int:
        side = self.vision["image_size"] // self.vision["patch_size"]
        return side * side // (self.top["scale_factor"] ** 2)


PRESETS: dict[str, ModelPreset] = {
    "smolvlm2-2.2b": ModelPreset(
        "smolvlm2-2.2b",
        SMOLVLM2_REPO_ID,
        SMOLVLM2_2B_TEXT,
        SMOLVLM2_2B_VISION,
        SMOLVLM2_2B,
        # One 384 px tile per image. Without ``size``, the processor first upscales every image so its
        # longest edge is 4 x 384 = 1536 px, then shrinks it back to 384 (~12x slower, same tensor).
        processor_kwargs={
            "do_image_splitting": False,
            "size": {"longest_edge": SMOLVLM2_2B_VISION["image_size"]},
            "max_image_size": {"longest_edge": SMOLVLM2_2B_VISION["image_size"]},
        },
    ),
}


def resolve_model_source(name_or_path: str) -> str | Path:
    """Map a preset name, a local folder or a Hub repo id to what ``from_pretrained`` can load offline.

    ``tiny`` and ``small`` build (once, cached) the offline stand-ins; a Hub id resolves through the local cache first
    and fails fast with instructions when neither cache nor network has it.
    """
    from vla.hub import resolve_pretrained
    from vla.model.tiny import EMBEDDED, embedded_model_path

    if name_or_path in EMBEDDED:
        return embedded_model_path(name_or_path)
    source = PRESETS[name_or_path].source if name_or_path in PRESETS else name_or_path
    return resolve_pretrained(source, kind="base model")


def hub_repo_id(name_or_path: str) -> str | None:
    """The Hub repo id a base model or a dataset is known by, for model cards and LoRA adapters: a preset's
    source, or the name itself when it is a repo id. ``None`` for the embedded stand-ins and local folders
    (a cache path would mean nothing on another machine)."""
    from vla.model.tiny import EMBEDDED

    if name_or_path in EMBEDDED:
        return None
    if name_or_path in PRESETS:
        return PRESETS[name_or_path].source
    if Path(name_or_path).expanduser().exists() or name_or_path.count("/") != 1:
        return None
    return name_or_path
