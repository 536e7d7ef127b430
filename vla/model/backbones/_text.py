"""A small byte-level BPE trained offline on LIBERO's instructions: the text tokenizer of every embedded
(offline-built) backbone, so that no test or demo downloads a tokenizer."""

from __future__ import annotations

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


def train_bpe(special_tokens: list[str], vocab_size: int = 512):
    """A ``tokenizers.Tokenizer`` (byte-level BPE, deterministic) with ``special_tokens`` first."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([line for line in _CORPUS.splitlines() if line] * 4, trainer)
    return bpe
