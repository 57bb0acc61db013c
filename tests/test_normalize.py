import numpy as np
import pytest

from fmlogger.render.normalize import normalize, value_range
from fmlogger.render.renderer import NONFINITE_CODE, quantize


def maps(values, shape=(1, 1, 1, -1)):
    return np.asarray(values, dtype=np.float32).reshape(shape)


def test_per_map_golden_codes():
    # lo=-1, hi=3: (x + 1) / 4 = [0, .25, .5, 1] -> round(v * 255) = [0, 64 (63.75), 128 (127.5 up), 255]
    codes = quantize(normalize(maps([-1, 0, 1, 3]), "per_map"))
    assert codes.ravel().tolist() == [0, 64, 128, 255]


def test_per_map_scales_each_channel_alone():
    x = np.stack([maps([0, 1, 2]), maps([0, 10, 20])], axis=1)[:, :, 0]  # [1, 2, 1, 3]
    out = normalize(x, "per_map")
    np.testing.assert_allclose(out[0, 0, 0], [0, 0.5, 1])
    np.testing.assert_allclose(out[0, 1, 0], [0, 0.5, 1])


def test_per_layer_shares_one_range_per_sample():
    x = np.zeros((2, 2, 1, 2), np.float32)
    x[0, 0, 0] = [0, 1]
    x[0, 1, 0] = [2, 4]  # sample 0: range 0..4
    x[1, 0, 0] = [-2, 0]
    x[1, 1, 0] = [0, 2]  # sample 1: range -2..2
    out = normalize(x, "per_layer")
    np.testing.assert_allclose(out[0].ravel(), [0, 0.25, 0.5, 1])
    np.testing.assert_allclose(out[1].ravel(), [0, 0.5, 0.5, 1])


def test_symmetric_maps_zero_to_mid_scale():
    # max|x| = 4: x / 4 = [-1, -.5, 0, .25] -> (v + 1) / 2 = [0, .25, .5, .625]
    out = normalize(maps([-4, -2, 0, 1]), "symmetric")
    np.testing.assert_allclose(out.ravel(), [0, 0.25, 0.5, 0.625])
    assert quantize(out).ravel().tolist() == [0, 64, 128, 159]  # 159.375 -> 159


def test_fixed_range_saturates_outside():
    out = normalize(maps([-1, 0, 5, 10, 20]), "fixed", fixed_range=(0, 10))
    np.testing.assert_allclose(out.ravel(), [0, 0, 0.5, 1, 1])


def test_fixed_needs_a_range():
    with pytest.raises(ValueError, match="fixed_range"):
        normalize(maps([1, 2]), "fixed")


def test_clip_percentile_ignores_outliers():
    x = maps(np.r_[np.arange(999, dtype=np.float32), 1e6])
    lo, hi = value_range(x, (2, 3), clip_percentile=1.0)
    assert hi.item() < 1000  # the 99th percentile, not the outlier
    out = normalize(x, "per_map", clip_percentile=1.0)
    assert out.ravel()[-1] == 1.0 and out.ravel()[0] == 0.0


def test_constant_maps_render_at_bottom_without_division_by_zero():
    with np.errstate(all="raise"):
        out = normalize(np.full((2, 3, 4, 4), 7.0, np.float32), "per_map")
        sym = normalize(np.zeros((1, 1, 2, 2), np.float32), "symmetric")
    assert np.all(out == 0)
    assert np.all(sym == 0.5)


def test_nonfinite_values_become_nan_and_do_not_spoil_the_range():
    x = maps([0, np.nan, 2, np.inf, -np.inf, 4])
    out = normalize(x, "per_map").ravel()
    np.testing.assert_allclose(out[[0, 2, 5]], [0, 0.5, 1])
    assert np.isnan(out[[1, 3, 4]]).all()
    codes = quantize(out.reshape(x.shape)).ravel()
    assert codes[[1, 3, 4]].tolist() == [NONFINITE_CODE] * 3


def test_all_nan_map_is_handled():
    out = normalize(np.full((1, 1, 2, 2), np.nan, np.float32), "per_layer")
    assert np.isnan(out).all()


def test_input_is_not_mutated():
    x = np.array([[[[3.0, -1.0, np.nan]]]], dtype=np.float32)
    before = x.copy()
    for mode in ("per_map", "per_layer", "symmetric"):
        normalize(x, mode, clip_percentile=5)
    np.testing.assert_array_equal(x, before)


def test_unknown_mode_names_the_choices():
    with pytest.raises(ValueError, match=r"normalize must be one of .*per_map.*Received: normalize='minmax'"):
        normalize(maps([1]), "minmax")
