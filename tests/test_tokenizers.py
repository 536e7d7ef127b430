import numpy as np
import pytest
import torch

from vla.tokenizers import (
    AutoActionTokenizer,
    BinningActionTokenizer,
    InvalidTokensError,
    TokenizerFitError,
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


def test_torch_in_and_single_chunk():
    x = chunks()
    tok = BinningActionTokenizer().fit(torch.tensor(x))
    np.testing.assert_array_equal(tok.encode(torch.tensor(x[0])), tok.encode(x[:1]))


def test_save_load_gives_identical_ids(tmp_path):
    x = chunks()
    for strategy in ("uniform", "quantile"):
        tok = BinningActionTokenizer(strategy=strategy, n_bins=64).fit(x)
        tok.save_pretrained(tmp_path / strategy)
        loaded = AutoActionTokenizer.from_pretrained(tmp_path / strategy)
        assert isinstance(loaded, BinningActionTokenizer) and loaded.config == tok.config
        np.testing.assert_array_equal(loaded.encode(x), tok.encode(x))
        np.testing.assert_array_equal(loaded.decode(tok.encode(x)).actions, tok.decode(tok.encode(x)).actions)


def test_decode_fuzz_never_raises_and_flags_invalid():
    tok = BinningActionTokenizer(horizon=4, n_bins=16).fit(chunks(horizon=4))
    rng = np.random.default_rng(1)
    cases = [
        [],
        [[]],
        [0],
        np.full((3, 28), 10**12),
        np.full((2, 28), -5),
        [[float("nan")] * 28],
        [[1.5] * 28],
    ]
    for _ in range(2000):
        length = int(rng.integers(0, 60))
        cases.append(rng.integers(-100, 100, size=length))
    for ids in cases:
        out = tok.decode(ids)
        assert out.actions.shape[1:] == (4, 7) and np.isfinite(out.actions).all()
        assert out.valid.shape == (out.actions.shape[0],)
    assert not tok.decode(np.arange(27)).valid[0]  # one short
    assert tok.decode(np.zeros(28, dtype=int)).valid[0]
    with pytest.raises(InvalidTokensError, match="expected 28 ids in \\[0, 16\\)"):
        tok.decode(np.full(28, 99), strict=True)


def test_fit_errors_are_clear():
    tok = BinningActionTokenizer()
    with pytest.raises(TokenizerFitError, match="at least 2 chunks"):
        tok.fit(chunks(n=1))
    bad = chunks()
    bad[3, 2, 1] = np.nan
    with pytest.raises(TokenizerFitError, match="NaN"):
        tok.fit(bad)
    with pytest.raises(TokenizerFitError, match="configured for \\(horizon=8, action_dim=7\\)"):
        tok.fit(chunks(horizon=5))
    with pytest.raises(RuntimeError, match="not fitted"):
        BinningActionTokenizer().encode(chunks())
    with pytest.raises(ValueError, match="n_bins=1 is invalid"):
        BinningActionTokenizer(n_bins=1)
    with pytest.raises(ValueError, match="tokenizer_type='nope' is invalid"):
        AutoActionTokenizer.from_config("nope")
