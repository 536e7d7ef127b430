import numpy as np
import pytest
import torch

from vla.tokenizers import (
    AutoActionTokenizer,
    BinningActionTokenizer,
    InvalidTokensError,
)


def chunks(n=200, horizon=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.9, 0.9, (n, horizon, 7))
    x[..., 6] = np.sign(x[..., 6])
    return x


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_round_trip_within_half_a_bin(strategy):
    x = chunks()
    tok = BinningActionTokenizer(strategy=strategy, n_bins=256).fit(x)
    ids = tok.encode(x)
    assert ids.shape == (200, 56) and ids.dtype == np.int64
    assert ids.min() >= 0 and ids.max() < tok.vocab_size
    result = tok.decode(ids)
    assert result.valid.all()
    stats = tok.action_stats
    error = np.abs(result.actions - x)
    inner = (x > stats.q01) & (x < stats.q99)
    half_bin = (stats.q99 - stats.q01) / 256 / 2  # uniform bins: at most half a bin inside q01..q99
    bound = half_bin + 1e-9 if strategy == "uniform" else 0.02  # quantile bins are wide in sparse tails
    assert (error[inner] <= np.broadcast_to(bound, x.shape)[inner]).all()
    assert error.max() < 0.05  # values clipped beyond q01/q99 lose at most the 1% tails
    np.testing.assert_allclose(result.actions[..., 6], x[..., 6], atol=1 / 256)  # binary gripper


def test_fit_takes_torch():
    x = chunks()
    tok = BinningActionTokenizer().fit(torch.tensor(x))
    np.testing.assert_array_equal(tok.encode(x), BinningActionTokenizer().fit(x).encode(x))


def test_save_load_gives_identical_ids_with_quantile_bins(tmp_path):
    # the default (uniform) strategy: tests/test_tokenizer_contract.py
    x = chunks()
    for strategy in ("quantile",):
        tok = BinningActionTokenizer(strategy=strategy, n_bins=64).fit(x)
        tok.save_pretrained(tmp_path / strategy)
        loaded = AutoActionTokenizer.from_pretrained(tmp_path / strategy)
        assert isinstance(loaded, BinningActionTokenizer) and loaded.config == tok.config
        np.testing.assert_array_equal(loaded.encode(x), tok.encode(x))
        np.testing.assert_array_equal(loaded.decode(tok.encode(x)).actions, tok.decode(tok.encode(x)).actions)


def test_decode_flags_wrong_lengths_and_ranges():
    # decoding any ids without raising: tests/test_tokenizer_contract.py
    tok = BinningActionTokenizer(horizon=4, n_bins=16).fit(chunks(horizon=4))
    assert not tok.decode(np.arange(27)).valid[0]  # one short
    assert tok.decode(np.zeros(28, dtype=int)).valid[0]
    with pytest.raises(InvalidTokensError, match="expected 28 ids in \\[0, 16\\)"):
        tok.decode(np.full(28, 99), strict=True)


def test_config_errors_are_clear():
    # bad fit data, an unfitted tokenizer, an unknown type: tests/test_tokenizer_contract.py
    with pytest.raises(ValueError, match="n_bins=1 is invalid"):
        BinningActionTokenizer(n_bins=1)
