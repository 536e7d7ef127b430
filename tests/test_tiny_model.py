import time

import numpy as np
import pytest
import torch

from vla.hub import HubUnavailableError
from vla.model.backbones import resolve_model_source
from vla.model.backbones.smolvlm import IMAGE_SEQ_LEN, PRESETS, build_tiny_smolvlm


def test_tiny_model_uses_the_real_smolvlm_classes(tiny_model_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    assert type(model).__name__ == "SmolVLMForConditionalGeneration"
    assert type(processor).__name__ == "SmolVLMProcessor"
    assert type(processor.image_processor).__name__.startswith("SmolVLMImageProcessor")
    tok = processor.tokenizer
    for special in (
        "<image>",
        "<fake_token_around_image>",
        "<global-img>",
        "<end_of_utterance>",
        "<row_1_col_1>",
    ):
        assert tok.convert_tokens_to_ids(special) != tok.unk_token_id
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<image>")
    assert processor.image_seq_len == IMAGE_SEQ_LEN == 16


def test_tiny_build_is_deterministic(tmp_path):
    a, b = build_tiny_smolvlm(tmp_path / "a"), build_tiny_smolvlm(tmp_path / "b")
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
    from safetensors.torch import load_file

    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_smolvlm2_preset_matches_published_architecture():
    preset = PRESETS["smolvlm2-2.2b"]
    assert preset.source == "HuggingFaceTB/SmolVLM2-2.2B-Instruct"
    config = preset.build_config()
    text, vision = config.text_config, config.vision_config
    assert (text.hidden_size, text.intermediate_size, text.num_hidden_layers) == (2048, 8192, 24)
    assert (text.num_attention_heads, text.head_dim, text.vocab_size) == (32, 64, 49280)
    assert text.max_position_embeddings == 8192 and config.tie_word_embeddings is False
    assert (vision.hidden_size, vision.intermediate_size, vision.num_hidden_layers) == (1152, 4304, 27)
    assert (vision.num_attention_heads, vision.patch_size, vision.image_size) == (16, 14, 384)
    assert config.scale_factor == 3 and config.image_token_id == 49190
    assert preset.image_tokens_per_image == 81
    # one 384 px tile, and no detour through 1536 px (the processor's default longest edge is 4 x 384)
    edge = {"longest_edge": 384}
    assert preset.processor_kwargs == {"do_image_splitting": False, "size": edge, "max_image_size": edge}
    from transformers import SmolVLMImageProcessor

    processor = SmolVLMImageProcessor(**preset.processor_kwargs)
    out = processor(images=[[np.zeros((256, 256, 3), np.uint8)] * 2], return_tensors="pt")
    assert tuple(out["pixel_values"].shape) == (1, 2, 3, 384, 384)
    # ~2.2B parameters, counted without allocating them
    with torch.device("meta"):
        from transformers import SmolVLMForConditionalGeneration

        n = sum(p.numel() for p in SmolVLMForConditionalGeneration(config).parameters())
    assert 2.0e9 < n < 2.5e9


def test_real_preset_offline_fails_fast_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.perf_counter()
    with pytest.raises(HubUnavailableError) as err:
        resolve_model_source("smolvlm2-2.2b")
    assert time.perf_counter() - start < 30
    message = str(err.value)
    assert "HuggingFaceTB/SmolVLM2-2.2B-Instruct" in message and "local copy" in message


@pytest.mark.parametrize(("preset", "patch", "shuffle"), [("small", 8, 4), ("small-p16", 16, 2)])
def test_small_presets_are_built_offline_with_the_same_classes(preset, patch, shuffle):
    """Both small presets read 128 px images as 16 tokens each: small-p16 from 64 patches, small from 256."""
    from transformers import AutoConfig, AutoProcessor

    from vla.model.backbones.smolvlm import EMBEDDED

    folder = resolve_model_source(preset)
    config = AutoConfig.from_pretrained(folder)
    assert type(config).__name__ == "SmolVLMConfig"
    vision = config.vision_config
    assert (vision.image_size, vision.patch_size, config.scale_factor) == (128, patch, shuffle)
    assert (config.text_config.hidden_size, config.text_config.num_hidden_layers) == (256, 4)
    processor = AutoProcessor.from_pretrained(folder)
    assert processor.image_seq_len == EMBEDDED[preset].image_seq_len == 16
    # the vision encoder's output fills exactly the prompt's image tokens
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(folder)
    image = np.zeros((128, 128, 3), np.uint8)
    inputs = processor(text=["<image>pick up the soup"], images=[[image]], return_tensors="pt")
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == 16
    with torch.no_grad():
        assert model(**inputs).logits.shape[:2] == inputs["input_ids"].shape
    assert processor.image_processor.size == {"longest_edge": 128}


def test_tiny_llava_uses_the_real_llava_classes_built_offline():
    """The second backbone family: LLaVA's own classes (SigLIP tower, Qwen2 text model, LlavaProcessor),
    built from local files only."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from vla.model.backbones import backbone_for

    folder = resolve_model_source("tiny-llava")
    model = AutoModelForImageTextToText.from_pretrained(folder)
    processor = AutoProcessor.from_pretrained(folder)
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert type(model.model.vision_tower).__name__ == "SiglipVisionModel"
    assert model.config.text_config.model_type == "qwen2"
    assert type(processor).__name__ == "LlavaProcessor"
    assert type(processor.image_processor).__name__.startswith("SiglipImageProcessor")
    tok = processor.tokenizer
    assert model.config.image_token_index == tok.convert_tokens_to_ids("<image>")
    assert tok.convert_tokens_to_ids("<|im_end|>") == tok.eos_token_id
    backbone = backbone_for("tiny-llava")
    assert backbone.name == "llava" and backbone_for(str(folder)).name == "llava"  # by its config.json
    assert backbone.tokens_per_image(model.config) == 16


def test_tiny_llava_build_is_deterministic(tmp_path):
    from safetensors.torch import load_file

    from vla.model.backbones.llava import build_tiny_llava

    a, b = build_tiny_llava(tmp_path / "a"), build_tiny_llava(tmp_path / "b")
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_llava_preset_names_its_hub_model_and_real_size():
    from transformers import LlavaForConditionalGeneration

    from vla.model.backbones import find_preset, hub_repo_id

    preset = find_preset("llava-interleave-qwen-0.5b")
    assert preset.source == "llava-hf/llava-interleave-qwen-0.5b-hf" == hub_repo_id(preset.name)
    assert preset.backbone == "llava"
    config = preset.build_config()
    assert type(config).__name__ == "LlavaConfig" and config.text_config.model_type == "qwen2"
    assert (config.text_config.hidden_size, config.text_config.num_hidden_layers) == (896, 24)
    assert (config.vision_config.image_size, config.vision_config.patch_size) == (384, 14)
    assert preset.image_tokens_per_image == 729  # 27 x 27 SigLIP patches, no CLS token
    with torch.device("meta"):  # ~0.9B parameters (Qwen2-0.5B + SigLIP-so400m), counted without allocating
        n = sum(p.numel() for p in LlavaForConditionalGeneration(config).parameters())
    assert 0.8e9 < n < 1.0e9


def test_llava_preset_offline_fails_fast_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(HubUnavailableError, match="llava-hf/llava-interleave-qwen-0.5b-hf"):
        resolve_model_source("llava-interleave-qwen-0.5b")


def test_a_model_of_an_unregistered_family_names_the_supported_ones(tmp_path):
    import json

    from vla.model.backbones import backbone_for

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "paligemma"}))
    with pytest.raises(ValueError, match=r"model_type 'paligemma' has no vla backbone; supported: .*'llava'"):
        backbone_for(str(tmp_path))
