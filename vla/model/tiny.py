"""A tiny SmolVLM built offline and deterministically with the same classes as SmolVLM2-2.2B.

Same model class (``SmolVLMForConditionalGeneration``), processor (``SmolVLMProcessor`` with its image and
video processors), chat template and special tokens as the real model, so every code path that loads
``HuggingFaceTB/SmolVLM2-2.2B-Instruct`` runs on it in seconds on a CPU. Only the sizes differ: 64 px
images, 16 image tokens per image, a 2-layer Llama text model and a small BPE vocabulary trained here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

#: Bump when the tiny model changes, so caches built by older code are not reused.
TINY_VERSION = 1
IMAGE_SIZE = 64
PATCH_SIZE = 8
SCALE_FACTOR = 2
IMAGE_SEQ_LEN = (IMAGE_SIZE // PATCH_SIZE) ** 2 // SCALE_FACTOR**2  # 16

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

# Words a LIBERO instruction and a chat prompt use; the BPE learns merges from them.
_CORPUS = """
User Assistant What action should the robot take to
pick up the alphabet soup and place it in the basket cream cheese salad dressing bbq sauce ketchup
tomato sauce butter milk chocolate pudding orange juice
pick up the black bowl between the plate and the ramekin and place it on the plate
next to the cookie box on the wooden cabinet in the top drawer of the wooden cabinet on the stove
open the middle drawer of the cabinet put the bowl on top of the cabinet push the plate to the front
turn on the stove put the wine bottle on the rack put both the alphabet soup and the cream cheese box
in the basket put the white mug on the left plate and put the yellow and white mug on the right plate
state gripper position rotation open close move left right up down forward backward 0 1 2 3 4 5 6 7 8 9
"""


def cache_root() -> Path:
    return Path(os.environ.get("VLA_CACHE", Path.home() / ".cache" / "vla"))


def tiny_model_path() -> Path:
    """Folder of the tiny model, built on first use (atomically, so parallel callers are safe)."""
    target = cache_root() / f"tiny-smolvlm-v{TINY_VERSION}"
    if not (target / "config.json").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tiny-", dir=target.parent))
        try:
            build_tiny_smolvlm(tmp)
            try:
                tmp.rename(target)
            except OSError:  # another process finished first
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_text_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([line for line in _CORPUS.splitlines() if line] * 4, trainer)
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


def build_processor():
    from transformers import SmolVLMImageProcessor, SmolVLMProcessor, SmolVLMVideoProcessor

    tokenizer = build_text_tokenizer()
    size = {"longest_edge": IMAGE_SIZE}
    image_processor = SmolVLMImageProcessor(
        do_image_splitting=False, size=size, max_image_size=size, do_resize=True
    )
    video_processor = SmolVLMVideoProcessor(size=size, max_image_size=size)
    return SmolVLMProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        image_seq_len=IMAGE_SEQ_LEN,
        chat_template=CHAT_TEMPLATE,
    )


def build_tiny_config(vocab_size: int, image_token_id: int, pad_token_id: int, eos_token_id: int):
    from transformers import SmolVLMConfig

    text = dict(
        model_type="llama",
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        head_dim=16,
        vocab_size=vocab_size,
        max_position_embeddings=1024,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        pad_token_id=pad_token_id,
        bos_token_id=0,
        eos_token_id=eos_token_id,
    )
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        patch_size=PATCH_SIZE,
        image_size=IMAGE_SIZE,
    )
    return SmolVLMConfig(
        text_config=text,
        vision_config=vision,
        scale_factor=SCALE_FACTOR,
        image_token_id=image_token_id,
        tie_word_embeddings=False,
        pad_token_id=pad_token_id,
    )


def build_tiny_smolvlm(folder: str | Path, seed: int = 0) -> Path:
    """Write the tiny model (random weights from ``seed``) and its processor to ``folder``."""
    import torch
    from transformers import SmolVLMForConditionalGeneration

    folder = Path(folder)
    processor = build_processor()
    tok = processor.tokenizer
    config = build_tiny_config(
        vocab_size=len(tok),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(seed)
    model = SmolVLMForConditionalGeneration(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
