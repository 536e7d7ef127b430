"""ActionCodec, one job per file: :mod:`~vla.tokenizers.actioncodec.config` (the configuration),
:mod:`~vla.tokenizers.actioncodec.net` (the torch network), :mod:`~vla.tokenizers.actioncodec.tokenizer`
(encode, decode, save, load), :mod:`~vla.tokenizers.actioncodec.fit` (training) and
:mod:`~vla.tokenizers.actioncodec.released` (reading the authors' checkpoints). Only the config and the
tokenizer are imported here: torch loads when a network is built.
"""

from vla.tokenizers.actioncodec.config import ActionCodecConfig
from vla.tokenizers.actioncodec.tokenizer import ActionCodecTokenizer

__all__ = ["ActionCodecConfig", "ActionCodecTokenizer"]
