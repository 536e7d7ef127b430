"""LLaVA (a vision tower, a two-layer projector, any causal LM): the second backbone family.

Preset: ``llava-interleave-qwen-0.5b`` is ``llava-hf/llava-interleave-qwen-0.5b-hf`` (SigLIP-so400m at
384 px, 729 image tokens per image, Qwen2-0.5B; multi-image by training, as a robot's cameras want).

Embedded: ``tiny-llava`` is built offline and deterministically with the same classes as that model
(``LlavaForConditionalGeneration`` with a SigLIP vision tower and a Qwen2 text model; ``LlavaProcessor``
with ``SiglipImageProcessor``; a Qwen-style chat template closed by ``<|im_end|>``), at tiny sizes: 64 px
images, 16 image tokens per image, 2 layers each. Its text tokenizer is the embedded SmolVLMs' BPE
(trained here on LIBERO's instructions) with LLaVA's special tokens.
"""

from __future__ import annotations

from pathlib import Path

from vla.model.backbones.base import Backbone, ModelPreset, register_backbone, write_embedded_model

LLAVA_INTERLEAVE_REPO_ID = "llava-hf/llava-interleave-qwen-0.5b-hf"

#: llava-interleave-qwen-0.5b-hf's architecture (its config.json, as published).
LLAVA_INTERLEAVE_TEXT = dict(
    model_type="qwen2",
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    vocab_size=152000,
    max_position_embeddings=32768,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)
LLAVA_INTERLEAVE_VISION = dict(
    model_type="siglip_vision_model",
    hidden_size=1152,
    intermediate_size=4304,
    num_hidden_layers=26,
    num_attention_heads=16,
    patch_size=14,
    image_size=384,
    vision_use_head=False,
)
LLAVA_INTERLEAVE = dict(
    image_token_index=151646,
    vision_feature_select_strategy="full",
    vision_feature_layer=-1,
    projector_hidden_act="gelu",
    tie_word_embeddings=True,
)

PRESETS: dict[str, ModelPreset] = {
    "llava-interleave-qwen-0.5b": ModelPreset(
        "llava-interleave-qwen-0.5b",
        LLAVA_INTERLEAVE_REPO_ID,
        "llava",
        "LlavaConfig",
        LLAVA_INTERLEAVE_TEXT,
        LLAVA_INTERLEAVE_VISION,
        LLAVA_INTERLEAVE,
        processor_kwargs={},  # SiglipImageProcessor: one 384 x 384 tile per image already
    ),
}

#: The tiny model's sizes.
TINY_IMAGE_SIZE, TINY_PATCH_SIZE = 64, 16
TINY_VERSION = 1

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"]

# Qwen's chat template as llava-interleave uses it: images first, then the text, each turn closed by
# <|im_end|>.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% for line in message['content'] %}{% if line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{ line['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_processor():
    from transformers import LlavaProcessor, PreTrainedTokenizerFast, SiglipImageProcessor

    from vla.model.backbones._text import train_bpe

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe(SPECIAL_TOKENS),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        model_max_length=4096,
        extra_special_tokens={"image_token": "<image>"},
    )
    image_processor = SiglipImageProcessor(size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE})
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=TINY_PATCH_SIZE,
        vision_feature_select_strategy="full",
        num_additional_image_tokens=0,
        chat_template=CHAT_TEMPLATE,
    )


def build_tiny_config(vocab_size: int, image_token_id: int, pad_token_id: int, eos_token_id: int):
    from transformers import LlavaConfig

    text = dict(
        model_type="qwen2",
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=vocab_size,
        max_position_embeddings=1024,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        pad_token_id=pad_token_id,
        eos_token_id=eos_token_id,
    )
    vision = dict(
        model_type="siglip_vision_model",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        patch_size=TINY_PATCH_SIZE,
        image_size=TINY_IMAGE_SIZE,
        vision_use_head=False,
    )
    return LlavaConfig(
        text_config=text,
        vision_config=vision,
        image_token_index=image_token_id,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        tie_word_embeddings=False,
        pad_token_id=pad_token_id,
    )


def build_tiny_llava(folder: str | Path, seed: int = 0) -> Path:
    """Write the tiny LLaVA (random weights from ``seed``) and its processor to ``folder``."""
    from transformers import LlavaForConditionalGeneration

    return write_embedded_model(
        folder, build_processor(), build_tiny_config, LlavaForConditionalGeneration, seed
    )


@register_backbone
class LlavaBackbone(Backbone):
    """LLaVA: vision tower -> projector -> image tokens merged into a causal LM's input embeddings."""

    name = "llava"
    model_types = ("llava",)
    presets = PRESETS
    embedded = ("tiny-llava",)
    end_token = "<|im_end|>"
    lora_target = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$"

    def build_embedded(self, name: str, folder: Path) -> None:
        build_tiny_llava(folder)

    def embedded_version(self, name: str) -> int:
        return TINY_VERSION

    def tokens_per_image(self, config) -> int:
        vision = config.vision_config
        n = (vision.image_size // vision.patch_size) ** 2
        # "default" drops the CLS token of a CLIP tower; SigLIP towers have none
        return n - 1 if config.vision_feature_select_strategy == "default" else n

    def vision_encoder(self, model):
        return model.model.vision_tower
