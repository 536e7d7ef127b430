"""SmolVLM (SmolVLM2-2.2B-Instruct and its offline stand-ins): the first backbone family.

Presets: ``smolvlm2-2.2b`` is ``HuggingFaceTB/SmolVLM2-2.2B-Instruct``. Embedded models, built offline and
deterministically with the same classes (``SmolVLMForConditionalGeneration``, ``SmolVLMProcessor`` with its
image and video processors), chat template and special tokens as the real model, so every code path that
loads the real one runs on them on a CPU. Only the sizes differ (:data:`EMBEDDED`):

- ``tiny`` (0.2M parameters): 64 px images, 16 image tokens per image, a 2-layer Llama text model. Tests
  and the demo: every stage runs in seconds.
- ``small`` (~4M parameters): 128 px images (the size ``vla experiment`` records at, so nothing is
  resized), 16 image tokens per image, a 4-layer vision encoder and a 4-layer Llama text model. Large
  enough to learn a LIBERO task on a 2-core CPU within an hour.
- ``small-p16``: ``small`` with 16 px patches (64 per image instead of 256) and a pixel shuffle of 2, so the
  same 16 image tokens per image come from a 4x shorter vision sequence: the stage-1 recipe trains 1.45x faster.

All share a small BPE vocabulary trained here on LIBERO's instructions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from vla.model.backbones.base import (
    Backbone,
    ModelPreset,
    embedded_model_path,
    register_backbone,
    write_embedded_model,
)

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

PRESETS: dict[str, ModelPreset] = {
    "smolvlm2-2.2b": ModelPreset(
        "smolvlm2-2.2b",
        SMOLVLM2_REPO_ID,
        "smolvlm",
        "SmolVLMConfig",
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


@dataclass(frozen=True)
class EmbeddedSpec:
    """The sizes of an embedded model; everything else (classes, tokenizer, template) is shared."""

    name: str
    #: Bump when the model changes, so caches built by older code are not reused.
    version: int
    image_size: int
    patch_size: int
    scale_factor: int
    text_hidden: int
    text_layers: int
    text_heads: int
    vision_hidden: int
    vision_layers: int
    vision_heads: int

    @property
    def image_seq_len(self) -> int:
        return (self.image_size // self.patch_size) ** 2 // self.scale_factor**2


EMBEDDED: dict[str, EmbeddedSpec] = {
    "tiny": EmbeddedSpec("tiny", 1, 64, 8, 2, 64, 2, 4, 32, 2, 2),
    "small": EmbeddedSpec("small", 1, 128, 8, 4, 256, 4, 4, 128, 4, 4),
    "small-p16": EmbeddedSpec("small-p16", 1, 128, 16, 2, 256, 4, 4, 128, 4, 4),
}
TINY = EMBEDDED["tiny"]
TINY_VERSION = TINY.version
IMAGE_SIZE = TINY.image_size
PATCH_SIZE = TINY.patch_size
SCALE_FACTOR = TINY.scale_factor
IMAGE_SEQ_LEN = TINY.image_seq_len  # 16

# SmolVLM2's chat template (role, then text/image parts, closed by <end_of_utterance>).
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
SPECIAL_TOKENS = [
    "<|endoftext|>",  # 0: bos, as in SmolVLM2
    "<|im_start|>",
    "<|im_end|>",  # 2: pad, as in SmolVLM2
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    "<video>",
    "<end_of_utterance>",
    *[f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)],
]


def build_text_tokenizer():
    from transformers import PreTrainedTokenizerFast

    from vla.model.backbones._text import train_bpe

    bpe = train_bpe(SPECIAL_TOKENS)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|endoftext|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        unk_token=None,
        model_max_length=4096,
        extra_special_tokens={
            "image_token": "<image>",
            "fake_image_token": "<fake_token_around_image>",
            "global_image_token": "<global-img>",
            "end_of_utterance_token": "<end_of_utterance>",
        },
    )


def build_processor(spec: EmbeddedSpec = TINY):
    from transformers import SmolVLMImageProcessor, SmolVLMProcessor, SmolVLMVideoProcessor

    tokenizer = build_text_tokenizer()
    size = {"longest_edge": spec.image_size}
    image_processor = SmolVLMImageProcessor(
        do_image_splitting=False, size=size, max_image_size=size, do_resize=True
    )
    video_processor = SmolVLMVideoProcessor(size=size, max_image_size=size)
    return SmolVLMProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        image_seq_len=spec.image_seq_len,
        chat_template=CHAT_TEMPLATE,
    )


def build_tiny_config(
    vocab_size: int, image_token_id: int, pad_token_id: int, eos_token_id: int, spec: EmbeddedSpec = TINY
):
    from transformers import SmolVLMConfig

    text = dict(
        model_type="llama",
        hidden_size=spec.text_hidden,
        intermediate_size=2 * spec.text_hidden if spec is TINY else 3 * spec.text_hidden,
        num_hidden_layers=spec.text_layers,
        num_attention_heads=spec.text_heads,
        num_key_value_heads=spec.text_heads,
        head_dim=spec.text_hidden // spec.text_heads,
        vocab_size=vocab_size,
        max_position_embeddings=1024,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        pad_token_id=pad_token_id,
        bos_token_id=0,
        eos_token_id=eos_token_id,
    )
    vision = dict(
        hidden_size=spec.vision_hidden,
        intermediate_size=2 * spec.vision_hidden if spec is TINY else 4 * spec.vision_hidden,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.vision_heads,
        patch_size=spec.patch_size,
        image_size=spec.image_size,
    )
    return SmolVLMConfig(
        text_config=text,
        vision_config=vision,
        scale_factor=spec.scale_factor,
        image_token_id=image_token_id,
        tie_word_embeddings=False,
        pad_token_id=pad_token_id,
    )


def build_tiny_smolvlm(folder: str | Path, seed: int = 0, spec: EmbeddedSpec = TINY) -> Path:
    """Write an embedded model (default: tiny; random weights from ``seed``) and its processor to
    ``folder``."""
    from transformers import SmolVLMForConditionalGeneration

    config = partial(build_tiny_config, spec=spec)
    return write_embedded_model(folder, build_processor(spec), config, SmolVLMForConditionalGeneration, seed)


def tiny_model_path() -> Path:
    """Folder of the tiny model, built on first use (atomically, so parallel callers are safe)."""
    return embedded_model_path("tiny")


@register_backbone
class SmolVLMBackbone(Backbone):
    """SmolVLM / Idefics3: SigLIP encoder, pixel-shuffle connector, Llama text model."""

    name = "smolvlm"
    model_types = ("smolvlm", "idefics3")
    presets = PRESETS
    embedded = tuple(EMBEDDED)
    end_token = "<end_of_utterance>"
    lora_target = r".*text_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$"

    def build_embedded(self, name: str, folder: Path) -> None:
        build_tiny_smolvlm(folder, spec=EMBEDDED[name])

    def embedded_version(self, name: str) -> int:
        return EMBEDDED[name].version

    def tokens_per_image(self, config) -> int:
        vision = config.vision_config
        return (vision.image_size // vision.patch_size) ** 2 // config.scale_factor**2

    def vision_encoder(self, model):
        return model.model.vision_model

    def image_features(self, model, pixel_values):
        # SmolVLM's processor gives (batch, images, C, H, W): one row per image
        pixels = pixel_values.reshape(-1, *pixel_values.shape[-3:])
        return self.vision_encoder(model)(pixel_values=pixels).last_hidden_state

    def fix_dtypes(self, model) -> None:
        match_image_features_dtype(model)


def match_image_features_dtype(model) -> None:
    """Under autocast (``mixed_precision=bf16``/``fp16``) SmolVLM's connector returns half-precision image
    features that it then writes into float32 text embeddings, which torch refuses ("Index put requires
    the source and destination dtypes match"). A forward hook casts them to the embeddings' dtype; it
    changes nothing without autocast."""
    embeddings = model.get_input_embeddings()

    def cast(module: Any, args: Any, output: Any) -> Any:
        return output.to(embeddings.weight.dtype)

    for module in model.modules():
        if type(module).__name__.endswith("Connector") and not getattr(module, "_vla_dtype_hook", False):
            module.register_forward_hook(cast)
            module._vla_dtype_hook = True
