"""Each view's ``produce`` (and ``compute``) output: tags, shapes, pixels; and the protocol's runners."""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger import tags
from fmlogger.render.renderer import RenderSettings
from fmlogger.render.timeline import decode, untile
from fmlogger.runs.events import decode_png
from fmlogger.views.base import Batch, View, compute_all, produce_all
from fmlogger.views.feature_maps import FeatureMapView, LayerArrays
from fmlogger.views.pca_rgb import PCARGBView
from fmlogger.views.timelines import TimelineSettings, TimelineView
from helpers.models import tiny_cnn, tiny_data


def _ramp_maps():
    """[1, 3, 3, 2]: channel 0 holds 0..8 row by row, channel 1 holds 8..0."""
    ramp = np.arange(9, dtype=np.float32).reshape(3, 3)
    return np.stack([ramp, 8 - ramp], axis=-1)[None]


def _batch(view, arrays, step=0, formats=None):
    batch = Batch(step)
    batch.computed[view] = LayerArrays(arrays, formats or {})
    return batch


def test_feature_map_view_produces_tagged_images_stats_and_frames():
    view = FeatureMapView(None, RenderSettings(min_tile_size=1, padding=1, cols=2))
    out = view.produce(_batch(view, {"block/conv": _ramp_maps()}))
    assert out.failures == [] and list(out.frames) == ["block/conv"]
    (image,) = out.images
    assert image.tag == tags.image_tag("block/conv") and image.images.dtype == np.uint8
    assert image.images.shape == (1, 5, 9, 1)  # 2 tiles of 3x3 side by side, padding 1
    # per_map: 0..8 -> floor(v / 8 * 255 + 0.5): 0, 32, 64, 96, 128, 159, 191, 223, 255
    assert image.images[0, 1:4, 1:4, 0].ravel().tolist() == [0, 32, 64, 96, 128, 159, 191, 223, 255]
    assert image.images[0, 1:4, 5:8, 0].ravel().tolist() == [255, 223, 191, 159, 128, 96, 64, 32, 0]
    assert dict(out.scalars) == {
        tags.stat_tag("block/conv", "mean"): pytest.approx(4.0),
        tags.stat_tag("block/conv", "std"): pytest.approx(np.arange(9).std()),
        tags.stat_tag("block/conv", "zero_fraction"): pytest.approx(2 / 18),
        tags.stat_tag("block/conv", "nonfinite"): 0,
    }
    np.testing.assert_array_equal(out.frames["block/conv"].images, image.images)


def test_feature_map_view_reports_an_undrawable_layer_and_draws_the_others():
    view = FeatureMapView(None, RenderSettings(min_tile_size=1))
    out = view.produce(_batch(view, {"vol": np.zeros((1, 2, 2, 2, 2)), "ok": _ramp_maps()}))
    assert [i.tag for i in out.images] == [tags.image_tag("ok")]
    ((where, err),) = out.failures
    assert where == "logging layer 'vol'" and "5-D output" in str(err)


def test_timeline_view_rows_are_the_first_sample_tiles_of_each_step():
    maps = FeatureMapView(None, RenderSettings(min_tile_size=4, padding=1))
    view = TimelineView(TimelineSettings(max_rows=8, max_channels=3), maps)
    rng = np.random.default_rng(0)
    main = {}
    for step in (0, 5, 9):
        batch = _batch(maps, {"conv": rng.random((2, 4, 4, 5), dtype=np.float32)}, step)
        outputs, failures = produce_all([maps, view], batch)
        main[step] = outputs[0].images[0].images[0]
    assert failures == []
    (image,) = outputs[1].images
    assert image.tag == tags.timeline_tag("conv") and image.images.shape[0] == 1
    np.testing.assert_array_equal(decode_png(image.pngs[0]), image.images[0])  # the encoded PNG is the image
    steps, tiles = decode(image.images[0], tile_shape=(4, 4), columns=3)
    assert steps == [0, 5, 9]
    for row, step in enumerate(steps):  # 5 channels -> a 3x2 grid in the feature map; 3 columns kept
        np.testing.assert_array_equal(tiles[row], untile(main[step], 5, padding=1)[:3])
    assert view.changed_rows()["conv"].steps == [0, 5, 9] and view.changed_rows() == {}  # until a new row
    assert view.state() == {"conv": {"tile_shape": [4, 4], "columns": 3}}


def test_pca_rgb_view_draws_4d_layers_of_its_source_only():
    maps = FeatureMapView(None, RenderSettings(min_tile_size=3))
    x = np.zeros((1, 3, 3, 4), np.float32)
    x[..., 2] = np.arange(9).reshape(3, 3)  # all the variance in one channel
    batch = _batch(maps, {"conv": x, "dense": np.ones((1, 5)), "other": x})
    (out,) = produce_all([PCARGBView(["conv", "dense"], maps)], batch)[0]
    (image,) = out.images
    assert image.tag == tags.pca_rgb_tag("conv") and image.images.shape == (1, 3, 3, 3)
    # PC1 is channel 2 (sign: its largest entry positive), scaled from its 1st..99th percentile
    red = image.images[0, ..., 0].ravel()
    assert red[0] == 0 and red[-1] == 255 and np.all(np.diff(red.astype(int)) > 0)
    assert not image.images[0, ..., 1:].any()  # no variance left for G and B
    assert "4 channels on the first 3 principal components (R, G, B: 100%, 0%, 0%" in image.description


class _Broken(View):
    what = "the broken view"

    def compute(self, model, batch):
        raise RuntimeError("compute failed")

    def produce(self, batch):
        raise RuntimeError("produce failed")


def test_runners_report_a_failing_view_and_run_the_others():
    maps = FeatureMapView(None, RenderSettings(min_tile_size=1))
    broken = _Broken()
    batch = _batch(maps, {"ok": _ramp_maps()})
    reported = []
    compute_all([broken], None, batch, report=lambda where, err: reported.append((where, str(err))))
    assert reported == [("the broken view", "compute failed")] and broken not in batch.computed
    outputs, failures = produce_all([broken, maps], batch)
    assert [(w, str(e)) for w, e in failures] == [("the broken view", "produce failed")]
    assert [i.tag for out in outputs for i in out.images] == [tags.image_tag("ok")]


@pytest.fixture(scope="module")
def model_and_data():
    import keras

    keras.utils.set_random_seed(0)
    return tiny_cnn(), tiny_data(12)


def test_explanation_view_computes_on_the_training_thread_and_draws_later(model_and_data):
    from fmlogger.explain.settings import ExplainSettings
    from fmlogger.views.explanations import Explained, ExplanationsView

    model, (x, y) = model_and_data
    view = ExplanationsView(
        ["vanilla"],
        ["conv2"],
        {"conv1": [1, 3]},
        ExplainSettings(min_size=32, actmax_steps=3, every_n_steps=2),
    )
    view.prepare(model, x[:3])
    assert view.compute(model, Batch(1, x[:3], y[:3])) is None  # every_n_steps=2 skips step 1
    batch = Batch(2, x[:3], y[:3])
    computed = view.compute(model, batch)
    assert isinstance(computed, Explained) and computed.classes.tolist() == y[:3].tolist()
    assert computed.maps[tags.saliency_tag("vanilla")][1].shape == x[:3].shape  # raw attributions
    batch.computed[view] = computed
    out = view.produce(batch)
    assert out.failures == []
    shapes = {i.tag: i.images.shape for i in out.images}
    assert shapes == {
        "saliency/vanilla": (3, 32, 32, 3),  # 16 px inputs upscaled x2 to min_size 32
        "gradcam/conv2": (3, 32, 32, 3),
        # grey inputs: 2 channels of 16 px, x2 -> 32, side by side: 1 + 32 + 1 rows, 1 + 2 * 33 columns
        "activation_max/conv1": (1, 34, 67, 1),
    }
    assert "target: labels (" + ", ".join(str(v) for v in y[:3]) + ")" in out.images[0].description


def test_explanation_view_leaves_resizing_to_the_worker_with_the_same_pixels(model_and_data):
    from fmlogger.explain.settings import ExplainSettings
    from fmlogger.render.overlay import attribution_map, overlay
    from fmlogger.views.explanations import ExplanationsView

    model, (x, y) = model_and_data
    settings = ExplainSettings(min_size=32, smoothgrad_samples=3, ig_steps=4, batch_size=4)
    view = ExplanationsView(["vanilla", "smoothgrad", "integrated_gradients"], ["conv2"], None, settings)
    view.prepare(model, x[:3])
    batch = Batch(0, x[:3], y[:3])
    batch.computed[view] = computed = view.compute(model, batch)
    cam = computed.maps[tags.gradcam_tag("conv2")][1]
    assert cam.shape[0] == 3 and cam.shape[1:] != x.shape[1:3]  # the layer's resolution, not upsampled
    images = {i.tag: i.images for i in view.produce(batch).images}
    sal, classes = view.saliency, y[:3]
    expected = {
        "gradcam/conv2": sal.gradcam(x[:3], "conv2", classes),  # upsampled here: the old way
        "saliency/vanilla": attribution_map(sal.vanilla(x[:3], classes), "max_abs"),
        "saliency/smoothgrad": attribution_map(sal.smoothgrad(x[:3], classes, samples=3), "max_abs"),
        "saliency/integrated_gradients": attribution_map(
            sal.integrated_gradients(x[:3], classes, steps=4), "abs_sum"
        ),
    }
    assert set(images) == set(expected)
    for tag, heat in expected.items():
        want = overlay(x[:3], heat, alpha=settings.alpha, min_size=32)
        np.testing.assert_array_equal(images[tag], want, err_msg=tag)


def test_embedding_view_produces_projector_entry_scatter_and_sprite_once(model_and_data):
    from fmlogger.views.embeddings import EmbeddingSettings, EmbeddingsView

    model, (x, y) = model_and_data
    view = EmbeddingsView(EmbeddingSettings(layers=["conv2"], data=(x, y), batch_size=5))
    firsts = []
    for step in (0, 1):
        batch = Batch(step)
        compute_all([view], model, batch, report=pytest.fail)
        (out,), failures = produce_all([view], batch)
        firsts.append(out.projector.sprite)
    assert failures == [] and out.projector.tensors["conv2"].shape == (12, 6)  # 3 batches of <= 5
    assert list(out.projector.columns) == ["label", "predicted", "correct"]
    np.testing.assert_array_equal(firsts[0], x)  # the sprite is handed over once
    assert firsts[1] is None
    (image,) = out.images
    assert image.tag == tags.embedding_pca_tag("conv2") and image.images.shape == (1, 540, 720, 3)
