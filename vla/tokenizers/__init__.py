"""Action tokenizers: continuous action chunks <-> discrete tokens, all behind one interface.

This package is ``vla.tokenizers`` (not a top-level ``tokenizers``) because a top-level package of that
name would shadow Hugging Face ``tokenizers``, which transformers imports.
"""

from vla.tokenizers.base import (
    ActionTokenizer,
    AutoActionTokenizer,
    DecodeResult,
    InvalidTokensError,
    TokenizerFitError,
)
from vla.tokenizers.binning import BinningActionTokenizer, BinningConfig

__all__ = [
    "ActionTokenizer",
    "AutoActionTokenizer",
    "BinningActionTokenizer",
    "BinningConfig",
    "DecodeResult",
    "InvalidTokensError",
    "TokenizerFitError",
]
