"""Embedded SmolVLMs built offline and deterministically with the same classes as SmolVLM2-2.2B.

Same model class (``SmolVLMForConditionalGeneration``), processor (``SmolVLMProcessor`` with its image and
video processors), chat template and special tokens as the real model, so every code path that loads
``HuggingFaceTB/SmolVLM2-2.2B-Instruct`` runs on them on a CPU. Only the sizes differ (:data:`EMBEDDED`):

- ``tiny`` (0.2M parameters): 64 px images, 16 image tokens per image, a 2-layer Llama text model. Tests
  and the demo: every stage runs in seconds.
- ``small`` (~4M parameters): 128 px images (the size ``vla experiment`` records at, so nothing is
  resized), 16 image tokens per image, a 4-layer vision encoder and a 4-layer Llama text model. Large
  enough to learn a LIBERO task on a 2-core CPU within an hour.

Both share a small BPE vocabulary trained here on LIBERO's instructions.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path


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
    return embedded_model_path("tiny")


def embedded_model_path(name: str) -> Path:
    """Folder of the embedded model ``name`` (:data:`EMBEDDED`), built once and cached."""
    spec = EMBEDDED[name]
    target = cache_root() / f"{spec.name}-smolvlm-v{spec.version}"
    if not (target / "config.json").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=target.parent))
        try:
            build_tiny_smolvlm(tmp, spec=spec)
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
    import torch
    from transformers import SmolVLMForConditionalGeneration

    folder = Path(folder)
    processor = build_processor(spec)
    tok = processor.tokenizer
    config = build_tiny_config(
        vocab_size=len(tok),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        spec=spec,
    )
    torch.manual_seed(seed)
    model = SmolVLMForConditionalGeneration(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
