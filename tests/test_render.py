import numpy as np
import pytest

from fmlogger.render import colormaps
from fmlogger.render.renderer import Renderer, RenderSettings, UnsupportedOutput, colorize_codes, quantize


def test_grid_geometry_and_golden_pixels():
    # 2 samples, 3x3 maps, 2 channels; per_map: channel 0 = 0..8 -> codes round(v/8*255)
    x = np.zeros((2, 3, 3, 2), np.float32)
    x[..., 0] = np.arange(9).reshape(3, 3)
    x[..., 1] = 5.0  # constant -> bottom of the scale
    frame = Renderer(RenderSettings(min_tile_size=3, padding=1)).render("conv", x)
    assert frame.images.shape == (2, 5, 9, 1)  # 1 row x 2 cols of 3x3 tiles + 1 px padding
    tile0 = frame.images[0, 1:4, 1:4, 0]
    assert tile0.ravel().tolist() == [0, 32, 64, 96, 128, 159, 191, 223, 255]  # 31.875 -> 32, ...
    assert np.all(frame.images[0, 1:4, 5:8, 0] == 0)
    assert np.all(frame.images[:, 0] == 128) and np.all(frame.images[:, :, 4] == 128)  # mid-gray padding


def test_small_maps_are_upscaled_to_min_tile_size():
    frame = Renderer(RenderSettings(min_tile_size=8, padding=0)).render("c", np.random.rand(1, 3, 3, 1))
    assert frame.images.shape == (1, 9, 9, 1)  # factor ceil(8 / 3) = 3


def test_max_channels_by_index():
    x = np.random.rand(1, 4, 4, 10).astype(np.float32)
    frame = Renderer(RenderSettings(max_channels=3, min_tile_size=4)).render("c", x)
    assert frame.channels == (0, 1, 2)
    assert "3 of 10 channels" in frame.description


def test_top_k_channels_are_chosen_once_and_kept():
    renderer = Renderer(RenderSettings(max_channels=2, channel_order="top_k", min_tile_size=2, padding=0))
    x = np.zeros((2, 2, 2, 4), np.float32)
    x[..., 3], x[..., 1] = 5.0, 3.0  # means: ch3 > ch1 > others
    x[0, 0, 0, 3] = 0.0  # give channel 3 some contrast
    first = renderer.render("c", x)
    assert first.channels == (3, 1)
    later = np.zeros_like(x)
    later[..., 0] = 100.0  # channel 0 now dominates, but the tiles keep showing 3 and 1
    later[0, 0, 0, 1] = 1.0
    second = renderer.render("c", later)
    assert second.channels == (3, 1)
    # tile 1 (channel 1) shows the single bright pixel at its top-left
    assert second.images[0, 0, 2, 0] == 255 and second.images[0, 1, 3, 0] == 0


def test_fixed_range_is_frozen_at_the_first_step():
    renderer = Renderer(RenderSettings(normalize="fixed", min_tile_size=1, padding=0))
    renderer.render("c", np.array([[[[0.0], [10.0]]]], np.float32))  # range 0..10
    frame = renderer.render("c", np.array([[[[5.0], [20.0]]]], np.float32))
    assert frame.images[0, :, :, 0].ravel().tolist() == [128, 255]  # 5/10 -> 127.5 -> 128; 20 saturates


def test_nonfinite_pixels_get_the_marker_colour_and_are_counted():
    x = np.ones((1, 2, 2, 1), np.float32)
    x[0, 0, 0, 0] = np.nan
    x[0, 1, 1, 0] = np.inf
    x[0, 0, 1, 0] = 3.0
    frame = Renderer(RenderSettings(min_tile_size=1, padding=0)).render("c", x)
    assert frame.stats["nonfinite"] == 2
    assert frame.images.shape == (1, 2, 2, 3)  # gray switches to RGB to show the marker
    assert tuple(frame.images[0, 0, 0]) == colormaps.nonfinite_color("gray")
    assert tuple(frame.images[0, 1, 1]) == colormaps.nonfinite_color("gray")
    assert tuple(frame.images[0, 0, 1]) == (255, 255, 255)


@pytest.mark.parametrize("name", colormaps.COLORMAPS)
def test_colormaps_are_lookup_tables(name):
    codes = np.array([[0, 128, 255]], np.uint8)
    pixels, _ = colorize_codes(codes, None, name)
    table = colormaps.lookup_table(name)
    expected = table[[0, 128, 255]][:, 0] if name == "gray" else table[[0, 128, 255]]
    np.testing.assert_array_equal(pixels[0], expected)
    assert table.shape == (256, 3) and table.dtype == np.uint8
    assert colormaps.nonfinite_color(name) not in {tuple(row) for row in table}


def test_viridis_endpoints():
    table = colormaps.lookup_table("viridis")
    assert tuple(table[0]) == (68, 1, 84) and tuple(table[255]) == (253, 231, 37)


def test_stats():
    x = np.array([[0.0, 0.0, 2.0, np.nan]], np.float32)
    frame = Renderer().render("dense", x)
    assert frame.stats["nonfinite"] == 1
    assert frame.stats["zero_fraction"] == pytest.approx(0.5)
    assert frame.stats["mean"] == pytest.approx(2 / 3)
    assert frame.stats["std"] == pytest.approx(np.std([0, 0, 2]))


def test_dense_output_is_a_strip():
    frame = Renderer(RenderSettings(min_tile_size=8, padding=1)).render(
        "dense", np.arange(12.0).reshape(3, 4)
    )
    assert frame.kind == "strip"
    assert frame.images.shape == (3, 1 + 8 + 1, 1 + 4 * 2 + 1, 1)  # 1x4 cells -> 8 rows, 2 px per unit
    row = frame.images[0, 1, 1:9:2, 0]
    assert row.tolist() == [0, 85, 170, 255]


def test_sequence_output_is_a_heatmap_channels_down_time_across():
    x = np.zeros((1, 5, 2), np.float32)  # (batch, time, channels)
    x[0, 4, 1] = 1.0
    frame = Renderer(RenderSettings(min_tile_size=1, padding=0)).render("lstm", x)
    assert frame.kind == "heatmap" and frame.images.shape == (1, 2, 5, 1)
    assert frame.images[0, 1, 4, 0] == 255 and frame.images[0].sum() == 255


def test_channels_first_matches_channels_last():
    x = np.random.default_rng(1).random((2, 5, 6, 3), dtype=np.float32)
    last = Renderer(RenderSettings(min_tile_size=4)).render("c", x)
    first = Renderer(RenderSettings(min_tile_size=4)).render("c", x.transpose(0, 3, 1, 2), "channels_first")
    np.testing.assert_array_equal(last.images, first.images)


def test_five_d_output_is_skipped_with_a_clear_message():
    with pytest.raises(UnsupportedOutput, match="5-D output"):
        Renderer().render("conv3d", np.zeros((1, 2, 2, 2, 2)))


@pytest.mark.parametrize(
    "option, value, allowed",
    [("normalize", "minmax", "per_map"), ("colormap", "jet", "viridis"), ("channel_order", "random", "top_k"),
     ("max_channels", 0, ">= 1"), ("clip_percentile", 60, "[0, 50)"),
     ("data_format", "NHWC", "channels_first")],
)
def test_bad_options_name_argument_value_and_choices(option, value, allowed):
    with pytest.raises(ValueError) as err:
        RenderSettings(**{option: value})
    message = str(err.value)
    assert option in message and repr(value) in message and allowed in message


def test_quantize_rounds_half_up():
    assert quantize(np.array([0.5 / 255, 1.5 / 255, 1.0])).tolist() == [1, 2, 255]


@pytest.mark.parametrize("name", colormaps.COLORMAPS)
def test_separators_stand_apart_from_the_brightest_and_darkest_tiles(name):
    # Two tiles: channel 0 all at the maximum (code 255), channel 1 all at the minimum (code 0);
    # the 1 px separators must differ from both by >= 60 in some channel of the decoded PNG.
    from fmlogger.render.png import encode_png
    from fmlogger.runs.png_decode import decode_png_numpy

    maps = np.stack([np.ones((1, 4, 4)), np.zeros((1, 4, 4))], axis=-1)
    settings = RenderSettings(normalize="fixed", colormap=name, min_tile_size=4)
    renderer = Renderer(settings)
    renderer.restore({"m": {"fixed_range": [0.0, 1.0]}})
    image = decode_png_numpy(encode_png(renderer.render("m", maps).images[0])).astype(int)
    separator, bright, dark = image[0, 0], image[1, 1], image[1, 6]
    table = colormaps.lookup_table(name).astype(int)
    assert image.shape[:2] == (6, 11)  # 1 x 2 tiles of 4 px + 1 px separators
    channels = image.shape[2]  # 1 for gray, 3 for the colour maps
    assert tuple(bright) == tuple(table[255][:channels]) and tuple(dark) == tuple(table[0][:channels])
    assert np.all(image[:, 5] == separator) and np.all(image[0] == separator)  # the separators are one colour
    assert np.abs(separator - bright).max() >= 60 and np.abs(separator - dark).max() >= 60
