import logging

import numpy as np
import pytest

from vla.config import ConfigError
from vla.tokenizers import (
    PAD_ID,
    AutoActionTokenizer,
    FastActionTokenizer,
    InvalidTokensError,
    TokenizerFitError,
)
from vla.tokenizers.diagnostics import synthetic_chunks


@pytest.fixture(scope="module")
def data():
    return synthetic_chunks(n_episodes=12, length=50)


@pytest.fixture(scope="module")
def fitted(data):
    return FastActionTokenizer(vocab_size=256).fit(data[0])


def test_round_trip_error_is_bounded_by_the_rounding(fitted, data):
    x = data[0]
    ids = fitted.encode(x)
    assert ids.shape == (x.shape[0], 64) and ids.dtype == np.int64
    real = ids != PAD_ID
    assert ids[real].min() >= 0 and ids[real].max() < fitted.vocab_size
    # padding only at the end of a row
    assert all(np.all(np.diff(row.astype(int)) <= 0) for row in real)
    result = fitted.decode(ids)
    assert result.valid.all()
    stats = fitted.action_stats
    error = stats.normalize(result.actions) - stats.normalize(x)
    # each coefficient is off by at most 0.5/scale; the orthonormal IDCT keeps the L2 norm per dimension
    bound = np.sqrt(fitted.horizon) * 0.5 / fitted.config.scale
    assert np.abs(error).max() <= bound + 1e-9
    assert np.sqrt(np.mean(error**2)) < 0.035  # uniform rounding: 0.05 / sqrt(3) = 0.029
    # no clipping to [-1, 1] before the DCT (as the published FAST): chunks beyond q01/q99 keep their size
    outside = ~np.all((x >= stats.q01) & (x <= stats.q99), axis=(1, 2))
    assert outside.sum() > 20 and np.abs(stats.normalize(x[outside])).max() > 1.1
    assert np.abs(error[outside]).max() <= bound + 1e-9
    np.testing.assert_array_equal(np.sign(result.actions[..., 6]), np.sign(x[..., 6]))  # gripper


def test_smooth_chunks_compress_and_scale_trades_length_for_error(data):
    x = data[0]
    lengths, errors = [], []
    for scale in (2.0, 10.0, 50.0):
        tok = FastActionTokenizer(scale=scale, vocab_size=512).fit(x)
        ids = tok.encode(x)
        lengths.append((ids != PAD_ID).sum(1).mean())
        errors.append(np.mean((tok.decode(ids).actions - x) ** 2))
    assert lengths[1] < 0.5 * 8 * 7  # far fewer tokens than binning's one per value
    assert lengths[0] < lengths[1] < lengths[2]
    assert errors[0] > errors[1] > errors[2]


def test_a_saved_fast_tokenizer_is_one_json_file(fitted, tmp_path):
    fitted.save_pretrained(tmp_path / "fast")
    assert sorted(p.name for p in (tmp_path / "fast").iterdir()) == ["action_tokenizer.json"]
    # identical ids and actions after loading: tests/test_tokenizer_contract.py


def test_fit_is_deterministic(data):
    a = FastActionTokenizer(vocab_size=200).fit(data[0])
    b = FastActionTokenizer(vocab_size=200).fit(data[0])
    assert a._extra_state() == b._extra_state()
    np.testing.assert_array_equal(a.encode(data[0]), b.encode(data[0]))


def test_decode_flags_padding_and_bpe_errors(fitted, data):
    # decoding any ids without raising, strict agreeing with valid: tests/test_tokenizer_contract.py
    good = fitted.encode(data[0][:50])
    assert fitted.decode(good).valid.all()
    assert not fitted.decode([PAD_ID] * 64).valid[0]  # empty: no coefficients
    assert not fitted.decode(np.r_[good[0][:2], PAD_ID, good[0][2:]]).valid[0]  # pad before a real id
    with pytest.raises(InvalidTokensError, match="outside the BPE vocabulary"):
        fitted.decode([fitted.vocab_size + 5], strict=True)
    with pytest.raises(InvalidTokensError, match="expected 56"):
        fitted.decode(good[0][:1], strict=True)


def test_too_long_sequences_are_truncated_with_a_warning(data, caplog):
    tok = FastActionTokenizer(max_tokens=3, vocab_size=128).fit(data[0])
    with caplog.at_level(logging.WARNING):
        ids = tok.encode(data[0][:20])
    assert ids.shape == (20, 3) and (ids != PAD_ID).all()
    assert "max_tokens=3" in caplog.text
    out = tok.decode(ids)  # fewer coefficients than needed: low frequencies only, flagged invalid
    assert not out.valid.any() and np.isfinite(out.actions).all()


def test_fit_errors_are_clear(data):
    # too few chunks, NaN, wrong shapes, unfitted: tests/test_tokenizer_contract.py
    with pytest.raises(TokenizerFitError, match="raise vocab_size or lower scale"):
        FastActionTokenizer(scale=1000.0, vocab_size=64).fit(data[0][:100])
    with pytest.raises(RuntimeError, match="not fitted"):
        FastActionTokenizer().decode([1, 2])
    with pytest.raises(ConfigError, match="scale=0.0 is invalid"):
        FastActionTokenizer(scale=0.0)
    with pytest.raises(ConfigError, match="vocab_size=40000 is invalid"):
        AutoActionTokenizer.from_config("fast", vocab_size=40000)
