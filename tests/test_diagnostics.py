import json
from dataclasses import dataclass

import numpy as np
import pytest

from vla.tokenizers import PAD_ID, BinningActionTokenizer, DecodeResult, FastActionTokenizer
from vla.tokenizers.base import ActionTokenizer
from vla.tokenizers.diagnostics import (
    bigram_gain,
    codebook_redundancy,
    dependence_bits,
    overlap_and_shift,
    overlap_between,
    position_mutual_information,
    reconstruction_error,
    report,
    synthetic_chunks,
    temporal_overlap,
    token_counts,
    vocabulary_usage,
)


@dataclass(frozen=True)
class _Config:
    horizon: int = 8
    action_dim: int = 7


class ConstantTokenizer(ActionTokenizer):
    """Emits code 3 four times for every chunk and decodes everything to zeros."""

    tokenizer_type = "constant"
    config_class = _Config

    def __init__(self, codebook=None):
        self.config, self.action_stats, self.codebook = _Config(), None, codebook

    def fit(self, chunks):
        return self

    def encode(self, chunks):
        return np.full((np.asarray(chunks).reshape(-1, 8, 7).shape[0], 4), 3, dtype=np.int64)

    def decode(self, ids, strict=False):
        n = len(self._as_id_rows(ids))
        return DecodeResult(np.zeros((n, 8, 7)), np.ones(n, dtype=bool))

    vocab_size = 10
    tokens_per_chunk = 4

    def codebook_vectors(self):
        return [self.codebook]


def dependence_plugin_bits(x, y):
    from vla.tokenizers.diagnostics import _plugin_mi_bits

    return _plugin_mi_bits(np.unique(x, return_inverse=True)[1], np.unique(y, return_inverse=True)[1])


@pytest.fixture(scope="module")
def data():
    return synthetic_chunks(n_episodes=10, length=40)


def test_a_single_code_has_perplexity_one_and_full_overlap(data):
    chunks, shifted = data
    tok = ConstantTokenizer()
    usage = vocabulary_usage(tok.encode(chunks), tok.vocab_size)
    assert usage == {"used": 1, "vocab_size": 10, "used_fraction": 0.1, "perplexity": 1.0}
    assert temporal_overlap(tok, chunks, shifted) == 1.0
    assert position_mutual_information(tok.encode(chunks)) == pytest.approx(0.0, abs=1e-12)
    assert bigram_gain(tok.encode(chunks))["gain_bits"] == pytest.approx(0.0, abs=1e-12)
    error = reconstruction_error(tok, chunks)
    np.testing.assert_allclose(error["max_abs_per_dim"], np.abs(chunks).max(axis=(0, 1)))
    np.testing.assert_allclose(error["mse"], np.mean(chunks**2))


def test_perplexity_of_uniform_codes_is_their_number():
    ids = np.random.default_rng(0).integers(0, 16, size=(4000, 4))
    usage = vocabulary_usage(ids, 32)
    assert usage["used"] == 16 and usage["used_fraction"] == 0.5
    assert usage["perplexity"] == pytest.approx(16, rel=0.01)
    assert vocabulary_usage(np.array([[0, 1, PAD_ID], [0, 1, PAD_ID]]), 4)["perplexity"] == pytest.approx(2)


def test_identical_shifted_chunks_overlap_fully(data):
    chunks, _ = data
    for tok in (
        BinningActionTokenizer(n_bins=64).fit(chunks),
        FastActionTokenizer(vocab_size=128).fit(chunks),
    ):
        assert temporal_overlap(tok, chunks, chunks) == 1.0


def test_overlap_counts():
    assert overlap_between(np.array([[1, 2, 3, 4]]), np.array([[1, 2, 0, 4]])) == 0.75
    # shifted by one token: [1, 2, 2] read from its 2nd id matches [2, 2, ...] twice; the longer row has 4
    a, b = np.array([[1, 2, 2, PAD_ID]]), np.array([[2, 2, 5, 1]])
    assert overlap_and_shift(a, b) == (0.5, 1)
    assert overlap_between(np.full((1, 3), PAD_ID), np.full((1, 3), PAD_ID)) == 1.0
    # one shift for all rows: three rows agree only when shifted by 2 (2 of 4), one only unshifted (4 of 4):
    # shift 2 gives 1.5 / 4, shift 0 gives 1 / 4
    a = np.array([[7, 8, 1, 2]] * 3 + [[5, 6, 7, 8]])
    b = np.array([[1, 2, 0, 0]] * 3 + [[5, 6, 7, 8]])
    assert overlap_and_shift(a, b) == pytest.approx((0.375, 2))


def test_binning_overlap_is_aligned_by_the_one_step_shift(data):
    chunks, shifted = data
    tok = BinningActionTokenizer(n_bins=64).fit(chunks)
    a, b = tok.encode(chunks), tok.encode(shifted)
    overlap, shift = overlap_and_shift(a, b)
    assert shift == tok.action_dim  # one step of time = one step's action_dim bins
    same_positions = float(np.mean(a == b))
    assert overlap > 0.6 and overlap > 2 * same_positions  # equal positions understated binning
    assert temporal_overlap(tok, chunks, shifted) == overlap


@pytest.mark.parametrize("vocab", [256, 2048])
def test_position_dependence_is_calibrated_at_realistic_vocabulary_sizes(vocab):
    rng = np.random.default_rng(0)
    n = 4000
    weights = 1.0 / np.arange(1, vocab + 1) ** 0.7  # Zipf-like code usage, as trained codebooks have
    p = weights / weights.sum()
    entropy = float(-(p * np.log2(p)).sum())  # the true H of every position
    independent = rng.choice(vocab, size=(n, 6), p=p)
    estimate = position_mutual_information(independent)
    plug_in = dependence_plugin_bits(independent[:, 0], independent[:, 1])
    assert abs(estimate) < 0.05 and plug_in > 1.0  # the plug-in MI calls independent positions dependent
    copied = np.repeat(independent[:, :1], 6, axis=1)  # every position the same token
    assert position_mutual_information(copied) == pytest.approx(entropy, rel=0.06)
    half = independent.copy()
    half[:, 1] = np.where(rng.random(n) < 0.5, half[:, 0], half[:, 1])  # a copy half of the time
    between = dependence_bits(half[:, 0], half[:, 1])
    assert 0.1 * entropy < between < 0.9 * entropy


def test_dependence_is_zero_for_independent_and_high_for_copied_positions():
    rng = np.random.default_rng(0)
    independent = rng.integers(0, 8, size=(4000, 4))
    assert abs(position_mutual_information(independent)) < 0.02
    assert abs(bigram_gain(independent)["gain_bits"]) < 0.02
    copied = independent.copy()
    copied[:, 1] = copied[:, 0]
    copied[:, 3] = copied[:, 2]
    # pairs (0,1) and (2,3) share 3 bits, the other 4 of 6 pairs nothing: about 1 bit on average
    assert position_mutual_information(copied) == pytest.approx(1.0, abs=0.1)
    # a variable-length tokenizer's figure does not depend on how wide its rows are padded
    from vla.tokenizers.base import PAD_ID

    rows = np.concatenate([copied, np.full((len(copied), 1), PAD_ID)], axis=1)
    rows[::2, -2] = PAD_ID  # half the rows one token shorter: the column is still paired
    wide = np.concatenate([rows, np.full((len(rows), 40), PAD_ID)], axis=1)
    assert position_mutual_information(wide) == position_mutual_information(rows[:, :-1])
    gain = bigram_gain(copied)
    assert gain["unigram_bits"] == pytest.approx(3.0, abs=0.05)
    assert gain["gain_bits"] == pytest.approx(gain["unigram_bits"] - gain["bigram_bits"])
    assert 0.8 < gain["gain_bits"] < 1.6  # 2 of every 3 successors are predictable, 1 is not


def test_token_counts_ignore_padding():
    ids = np.array([[5, 6, 7, PAD_ID], [1, PAD_ID, PAD_ID, PAD_ID]])
    assert token_counts(ids) == {"mean": 2.0, "max": 3, "min": 1}


def test_redundancy_finds_near_duplicate_codes():
    codebook = np.random.default_rng(0).normal(size=(20, 4))
    assert codebook_redundancy(ConstantTokenizer(codebook))["near_duplicate_pairs"] == 0
    codebook[7] = codebook[3] + 1e-6
    found = codebook_redundancy(ConstantTokenizer(codebook))
    assert found["near_duplicate_pairs"] == 1 and found["codes_involved"] == 2
    assert codebook_redundancy(BinningActionTokenizer()) is None


def test_report_is_complete_and_json_ready(data):
    chunks, shifted = data
    tok = BinningActionTokenizer(n_bins=64).fit(chunks)
    out = report(tok, chunks, shifted)
    json.dumps(out)
    assert out["tokens_per_chunk"] == {"mean": 56.0, "max": 56, "min": 56}
    assert out["redundancy"] is None and out["reconstruction"]["valid_fraction"] == 1.0
    assert 0.0 < out["temporal_overlap"] < 1.0
    assert out["vocabulary"]["used"] <= 64


def test_task_information_is_full_when_tokens_name_the_task_and_zero_when_they_are_noise():
    from vla.tokenizers.diagnostics import task_information

    rng = np.random.default_rng(0)
    tasks = np.repeat(np.arange(4), 100)
    episodes = np.repeat(np.arange(40), 10)  # 10 episodes per task
    telling = np.column_stack([tasks * 3, rng.integers(0, 50, 400)])  # first position names the task
    info = task_information(telling, tasks, episodes)
    assert info["accuracy"] == 1.0 and info["chance"] == 0.25
    assert 1.8 < info["mutual_information_bits"] <= 2.0  # H(task) = 2 bits; a lower bound
    noise = task_information(rng.integers(0, 50, (400, 2)), tasks, episodes)
    assert noise["accuracy"] < 0.4 and noise["mutual_information_bits"] < 0.1
    # bag-of-tokens form for variable-length rows; one task only: nothing to measure
    assert task_information(telling, tasks, episodes, positional=False)["accuracy"] > 0.9
    assert task_information(telling, np.zeros(400), episodes) is None


def test_codebook_usage_png_is_written(tmp_path):
    from vla.tokenizers.diagnostics import plot_codebook_usage

    ids = np.random.default_rng(0).integers(0, 64, (100, 8))
    plot_codebook_usage({"a": (ids, 64), "b": (ids[:, :2], 128)}, tmp_path / "usage.png")
    assert (tmp_path / "usage.png").stat().st_size > 5000
