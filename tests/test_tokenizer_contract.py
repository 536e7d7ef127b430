"""The contract every registered action tokenizer keeps, written once and run for each of them (a new
tokenizer registered with ``@register_tokenizer`` is tested here without a line added): encode gives ids in
range with the promised shape, decode turns any id sequence into finite chunks of the right shape and says
which rows were clean, save/load gives the same tokenizer, and bad fit data is refused in one line."""

import numpy as np
import pytest
import torch

from vla.config import ConfigError
from vla.errors import UserError
from vla.tokenizers import PAD_ID, AutoActionTokenizer, InvalidTokensError, TokenizerFitError
from vla.tokenizers.base import tokenizer_classes
from vla.tokenizers.diagnostics import synthetic_chunks

HORIZON, ACTION_DIM = 8, 7
TYPES = sorted(tokenizer_classes())


def test_the_builtin_tokenizers_are_registered():
    assert {"binning", "fast", "actioncodec"} <= set(TYPES)


@pytest.fixture(scope="module")
def data():
    return synthetic_chunks(n_episodes=12, length=50, horizon=HORIZON, action_dim=ACTION_DIM)


def _new(kind: str, **options):
    cls = tokenizer_classes()[kind]
    return AutoActionTokenizer.from_config(
        kind, horizon=HORIZON, action_dim=ACTION_DIM, **{**cls.tiny_options, **options}
    )


def _fit(tok, chunks, shifted):
    if tok.fits_on_shifted_chunks:
        return tok.fit(chunks, shifted, progress=False)
    return tok.fit(chunks)


@pytest.fixture(scope="module", params=TYPES)
def fitted(request, data):
    return _fit(_new(request.param), *data)


def test_encode_gives_ids_in_range_with_the_promised_shape(fitted, data):
    chunks = data[0]
    ids = fitted.encode(chunks)
    assert ids.dtype == np.int64 and ids.shape[0] == len(chunks)
    if fitted.variable_length:
        assert ids.shape[1] <= fitted.tokens_per_chunk
        real = ids[ids != PAD_ID]
    else:
        assert ids.shape[1] == fitted.tokens_per_chunk
        real = ids
    assert real.size and real.min() >= 0 and real.max() < fitted.vocab_size
    # one chunk (H, D), as numpy or torch, encodes as the first row of a batch
    np.testing.assert_array_equal(fitted.encode(torch.tensor(chunks[0])), fitted.encode(chunks[:1]))


def test_round_trip_decodes_every_row_cleanly_near_the_input(fitted, data):
    chunks = data[0]
    decoded = fitted.decode(fitted.encode(chunks))
    assert decoded.actions.shape == chunks.shape and decoded.valid.shape == (len(chunks),)
    assert decoded.valid.all() and np.isfinite(decoded.actions).all()
    stats = fitted.action_stats
    # the tokens carry the chunk: decoding beats the mean chunk on the data fitted on, even at the tiny
    # sizes (how closely each tokenizer reconstructs is its own test's business)
    normalized = np.clip(stats.normalize(chunks), -1, 1)
    error = np.mean((stats.normalize(decoded.actions) - normalized) ** 2)
    assert error < 0.75 * np.mean((normalized - normalized.mean(0)) ** 2)


def _fuzz_rows(tok, rng, count):
    """Random and adversarial id rows: wrong lengths, out of range, huge, negative, NaN, fractional,
    real rows with ids replaced, cut short or extended."""
    n = tok.tokens_per_chunk
    good = tok.encode(
        synthetic_chunks(n_episodes=2, length=10, horizon=tok.horizon, action_dim=tok.action_dim)[0]
    )
    rows = [
        [],
        [0],
        [PAD_ID] * n,
        [-1] * n,
        [10**15] * n,
        [float("nan")] * n,
        [2.5] * 3,
        [-(2**40)] * (2 * n),
    ]
    for _ in range(count):
        kind = rng.integers(5)
        if kind == 0:
            rows.append(rng.integers(-5, tok.vocab_size + 20, size=int(rng.integers(0, 3 * n))))
        elif kind == 1:
            rows.append(rng.integers(0, tok.vocab_size, size=n))
        elif kind == 2:
            rows.append(rng.integers(-(2**40), 2**40, size=int(rng.integers(1, 2 * n))))
        elif kind == 3:
            row = good[rng.integers(len(good))].copy()
            where = rng.integers(0, row.size, size=3)
            row[where] = rng.integers(-2, tok.vocab_size, size=3)
            rows.append(row)
        else:
            row = good[rng.integers(len(good))]
            row = row[row != PAD_ID]
            rows.append(
                np.concatenate([row[: rng.integers(0, row.size + 1)], rng.integers(0, tok.vocab_size, 3)])
            )
    return rows


def test_decode_of_any_ids_never_raises_and_strict_agrees_with_valid(fitted):
    rng = np.random.default_rng(0)
    rows = _fuzz_rows(fitted, rng, 2000)
    shape = (fitted.horizon, fitted.action_dim)
    batched = fitted.decode(rows)  # all rows at once (ragged)
    assert batched.actions.shape == (len(rows), *shape) and np.isfinite(batched.actions).all()
    assert batched.valid.shape == (len(rows),) and not batched.valid.all()
    for i, row in enumerate(rows[:300]):  # one by one, strict and not
        out = fitted.decode(row)
        assert out.actions.shape == (1, *shape) and np.isfinite(out.actions).all()
        assert out.valid[0] == batched.valid[i]
        try:
            fitted.decode(row, strict=True)
            assert out.valid[0]
        except InvalidTokensError as err:
            assert not out.valid[0] and "\n" not in str(err)
    for batch in ([[]], np.full((2, 5), 3), rng.integers(0, 9, size=(4, fitted.tokens_per_chunk))):
        out = fitted.decode(batch)
        assert out.actions.shape[1:] == shape and out.valid.shape == (out.actions.shape[0],)


def test_save_and_load_give_the_same_tokenizer(fitted, data, tmp_path):
    fitted.save_pretrained(tmp_path / "tok")
    loaded = AutoActionTokenizer.from_pretrained(tmp_path / "tok")
    assert type(loaded) is type(fitted) and loaded.config == fitted.config and loaded.is_fitted
    assert (loaded.vocab_size, loaded.tokens_per_chunk) == (fitted.vocab_size, fitted.tokens_per_chunk)
    ids = fitted.encode(data[0])
    np.testing.assert_array_equal(loaded.encode(data[0]), ids)
    np.testing.assert_array_equal(loaded.decode(ids).actions, fitted.decode(ids).actions)
    assert repr(loaded) == repr(fitted)


@pytest.mark.parametrize("kind", TYPES)
def test_bad_fit_data_and_config_are_refused_in_one_line(kind, data):
    chunks, shifted = data
    bad = chunks[:60].copy()
    bad[4, 1, 0] = np.nan
    cases = [
        (chunks[:1], shifted[:1], "at least 2 chunks"),
        (bad, shifted[:60], "NaN"),
        (chunks[:60, :5], shifted[:60, :5], r"configured for \(horizon=8, action_dim=7\)"),
    ]
    for x, x_shifted, message in cases:
        with pytest.raises(TokenizerFitError, match=message) as err:
            _fit(_new(kind), x, x_shifted)
        assert isinstance(err.value, UserError) and "\n" not in str(err.value)
    with pytest.raises(RuntimeError, match="not fitted"):
        _new(kind).encode(chunks[:2])
    with pytest.raises(ConfigError, match="no_such_field") as err:
        _new(kind, no_such_field=1)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="tokenizer_type='nope' is invalid: expected one of"):
        AutoActionTokenizer.from_config("nope")
