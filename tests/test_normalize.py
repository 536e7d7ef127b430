import numpy as np
import pytest

from vla.tokenizers.normalize import FeatureStats, NormStats, StatisticsError


def test_stats_match_numpy_and_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3)) * [1, 5, 0.1] + [0, 2, -1]
    stats = FeatureStats.from_array(x)
    np.testing.assert_allclose(stats.mean, x.mean(0))
    np.testing.assert_allclose(stats.std, x.std(0))
    np.testing.assert_allclose(stats.q01, np.quantile(x, 0.01, axis=0))
    np.testing.assert_allclose(stats.q99, np.quantile(x, 0.99, axis=0))
    for mode in ("quantile", "minmax", "meanstd"):
        np.testing.assert_allclose(stats.unnormalize(stats.normalize(x, mode), mode), x, atol=1e-10)
    y = stats.normalize(x, "minmax")
    assert y.min() == pytest.approx(-1) and y.max() == pytest.approx(1)

    NormStats({"actions": stats}).save_pretrained(tmp_path)
    loaded = NormStats.from_pretrained(tmp_path)["actions"]
    np.testing.assert_allclose(loaded.q99, stats.q99)


def test_binary_gripper_keeps_its_meaning():
    g = np.array([-1.0, 1.0] * 50)[:, None]
    stats = FeatureStats.from_array(g)
    np.testing.assert_allclose(stats.normalize(g), g)


def test_constant_dimension_passes_through():
    x = np.stack([np.arange(10.0), np.full(10, 3.0)], axis=1)
    stats = FeatureStats.from_array(x)
    np.testing.assert_allclose(stats.normalize(x)[:, 1], 3.0)


def test_nan_and_too_little_data_are_named():
    with pytest.raises(StatisticsError, match="NaN/inf.*index \\[1, 0\\]"):
        FeatureStats.from_array(np.array([[0.0], [np.nan], [1.0]]), name="actions")
    with pytest.raises(StatisticsError, match="at least 2 samples"):
        FeatureStats.from_array(np.zeros((1, 3)))
    with pytest.raises(KeyError, match="have \\['actions'\\]"):
        NormStats({"actions": FeatureStats.from_array(np.zeros((4, 2)))})["state"]
