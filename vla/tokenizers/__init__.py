"""Action tokenizers: continuous action chunks <-> discrete tokens, all behind one interface.

This package is ``vla.tokenizers`` (not a top-level ``tokenizers``) because a top-level package of that
name would shadow Hugging Face ``tokenizers``, which transformers imports.

Importing the package imports the built-in tokenizers, so each registers its ``tokenizer_type``
(``@register_tokenizer`` next to its class). A new tokenizer: one file with its config and class, and an
import line here.
"""

from vla.tokenizers.actioncodec import ActionCodecConfig, ActionCodecTokenizer
from vla.tokenizers.base import (
    PAD_ID,
    ActionTokenizer,
    AutoActionTokenizer,
    DecodeResult,
    InvalidTokensError,
    TokenizerFitError,
    register_tokenizer,
)
from vla.tokenizers.binning import BinningActionTokenizer, BinningConfig
from vla.tokenizers.fast import FastActionTokenizer, FastConfig

__all__ = [
    "PAD_ID",
    "ActionCodecConfig",
    "ActionCodecTokenizer",
    "ActionTokenizer",
    "AutoActionTokenizer",
    "BinningActionTokenizer",
    "BinningConfig",
    "DecodeResult",
    "FastActionTokenizer",
    "FastConfig",
    "InvalidTokensError",
    "TokenizerFitError",
    "register_tokenizer",
]
