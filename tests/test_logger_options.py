"""Option groups: groups and flat keywords write the same bytes; conflicts and bad values are named."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

import fmlogger
from fmlogger import tags
from fmlogger.explain.settings import ExplainSettings
from fmlogger.logger import FeatureMapLogger
from fmlogger.render.renderer import RenderSettings
from fmlogger.runs.events import image_tags
from fmlogger.views.embeddings import EmbeddingSettings
from fmlogger.views.options import SHORTCUTS
from fmlogger.views.timelines import TimelineSettings
from helpers.models import tiny_cnn, tiny_data

FLAT = {
    "normalize": "per_layer",
    "colormap": "viridis",
    "max_channels": 3,
    "channel_order": "top_k",
    "cols": 2,
    "min_tile_size": 8,
    "padding": 2,
    "timeline_max_rows": 3,
    "timeline_max_channels": 2,
}
GROUPS = {
    "render": RenderSettings(
        normalize="per_layer",
        colormap="viridis",
        max_channels=3,
        channel_order="top_k",
        cols=2,
        min_tile_size=8,
        padding=2,
    ),
    "timeline": TimelineSettings(max_rows=3, max_channels=2),
}


def _pngs(log_dir, **options):
    """``{tag: {step: PNG bytes}}`` of 5 steps of two layers logged with ``options``."""
    rng = np.random.default_rng(0)
    with FeatureMapLogger(log_dir, max_samples=2, **options) as logger:
        for step in range(5):
            logger.log_arrays(
                {
                    "a": rng.random((2, 6, 6, 5), dtype=np.float32),
                    "b": rng.random((2, 5, 4), dtype=np.float32),
                },
                step,
            )
    return image_tags(logger.run_dir)


def test_groups_and_flat_keywords_write_byte_identical_images(tmp_path):
    flat, grouped = _pngs(tmp_path / "flat", **FLAT), _pngs(tmp_path / "group", **GROUPS)
    assert set(flat) == {
        tags.image_tag("a"),
        tags.image_tag("b"),
        tags.timeline_tag("a"),
        tags.timeline_tag("b"),
    }
    assert flat == grouped
    assert len(flat[tags.timeline_tag("a")]) == 5
    mixed = _pngs(tmp_path / "mixed", render=GROUPS["render"], timeline_max_rows=3, timeline_max_channels=2)
    assert mixed == flat
    defaults = _pngs(tmp_path / "defaults")
    assert defaults[tags.image_tag("a")] != flat[tags.image_tag("a")]  # the options do change the bytes


def test_embedding_and_explain_groups_match_their_flat_forms(tmp_path):
    model = tiny_cnn()
    x, y = tiny_data(12)
    settings = ExplainSettings(target="predicted", min_size=32)
    written = {}
    for name, options in {
        "flat": {
            "embeddings": ["conv2"],
            "embedding_data": (x, y),
            "embedding_pooling": "max",
            "explain_settings": settings,
        },
        "group": {
            "embeddings": EmbeddingSettings(layers=["conv2"], data=(x, y), pooling="max"),
            "explain": settings,
        },
    }.items():
        with FeatureMapLogger(tmp_path / name, ["conv1"], saliency=["vanilla"], **options) as logger:
            logger.log(model, x[:2], 0)
            vectors = logger.log_embeddings(model, 0)
        written[name] = (image_tags(logger.run_dir), vectors["conv2"])
    (flat, flat_vectors), (group, group_vectors) = written["flat"], written["group"]
    assert {tags.embedding_pca_tag("conv2"), "saliency/vanilla"} <= set(flat)
    assert flat == group
    np.testing.assert_array_equal(flat_vectors, group_vectors)


@pytest.mark.parametrize(
    "options, fragments",
    [
        (
            {"render": RenderSettings(colormap="magma"), "colormap": "viridis"},
            ["colormap='viridis' conflicts with render=RenderSettings(", "colormap='magma'"],
        ),
        (
            {"render": RenderSettings(max_channels=8), "max_channels": 64},
            ["max_channels=64 conflicts with render=RenderSettings(", "max_channels=8"],
        ),
        (
            {"timeline": TimelineSettings(max_rows=8), "timeline_max_rows": 4},
            ["timeline_max_rows=4 conflicts with timeline=TimelineSettings(", "max_rows=8"],
        ),
        (
            {
                "embeddings": EmbeddingSettings(layers=["conv1"], data=np.zeros((4, 2))),
                "embedding_tsne": True,
            },
            ["embedding_tsne=True conflicts with embeddings=EmbeddingSettings(", "layers=('conv1',)"],
        ),
        (
            {"explain": ExplainSettings(alpha=0.2), "explain_settings": ExplainSettings(alpha=0.3)},
            ["explain=ExplainSettings(", "alpha=0.2", "conflicts with explain_settings=", "alpha=0.3"],
        ),
    ],
)
def test_a_flat_keyword_contradicting_its_group_is_an_error_naming_both(tmp_path, options, fragments):
    with pytest.raises(ValueError) as info:
        FeatureMapLogger(tmp_path, **options)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_a_flat_keyword_agreeing_with_its_group_is_fine(tmp_path):
    logger = FeatureMapLogger(tmp_path, render=RenderSettings(colormap="magma"), colormap="magma")
    assert logger.settings == RenderSettings(colormap="magma")
    same = ExplainSettings(alpha=0.2)
    assert (
        FeatureMapLogger(
            tmp_path, explain=same, explain_settings=ExplainSettings(alpha=0.2)
        ).explanations.settings
        == same
    )


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"timeline": TimelineSettings},
            r"timeline must be True, False or an fmlogger\.TimelineSettings\. Received: timeline=<class",
        ),
        (
            {"render": "viridis"},
            r"render must be an fmlogger\.RenderSettings or None\. Received: render='viridis'",
        ),
        (
            {"explain": {"alpha": 1}},
            r"explain must be an fmlogger\.ExplainSettings or None\. Received: explain=\{",
        ),
        (
            {"embedding_pooling": "max"},
            r"embeddings must name at least one layer\. Received: embeddings=None",
        ),
        (
            {"embeddings": ["c"], "embedding_data": np.zeros(3), "embedding_max_points": 0},
            r"embedding_max_points must be an integer >= 1\. Received: embedding_max_points=0",
        ),
    ],
)
def test_bad_groups_are_named(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        FeatureMapLogger(tmp_path, **options)


def test_unknown_keyword_suggests_the_close_ones(tmp_path):
    with pytest.raises(
        TypeError, match=r"unexpected keyword argument 'colourmap'\. Did you mean 'colormap'\?"
    ):
        FeatureMapLogger(tmp_path, colourmap="viridis")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: TimelineSettings(max_rows=1), r"max_rows must be an integer >= 2\. Received: max_rows=1"),
        (
            lambda: TimelineSettings(max_channels=0),
            r"max_channels must be an integer >= 1 or None\. Received: max_channels=0",
        ),
        (
            lambda: EmbeddingSettings(layers=["c"], data=np.zeros(3), pooling="mean"),
            r"pooling must be one of \('avg', 'max', 'flatten'\)\. Received: pooling='mean'",
        ),
        (lambda: EmbeddingSettings(layers=["c"]), r"needs data=x or \(x, y\)"),
        (
            lambda: ExplainSettings(target="labels"),
            r"target must be one of \('auto', 'label', 'predicted'\) or a class index",
        ),
        (
            lambda: ExplainSettings(alpha="0.5"),
            r"alpha must be a number in \[0, 1\]\. Received: alpha='0\.5'",
        ),
    ],
)
def test_settings_validate_on_construction_naming_the_field(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "make",
    [lambda: TimelineSettings(), lambda: EmbeddingSettings(layers="c", data=np.zeros(3)), ExplainSettings],
)
def test_groups_are_frozen_and_keyword_only(make):
    settings = make()
    assert all(field.kw_only for field in dataclasses.fields(settings))
    first = dataclasses.fields(settings)[0]
    with pytest.raises(TypeError):
        type(settings)(getattr(settings, first.name))  # positional: refused
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(settings, first.name, getattr(settings, first.name))


def test_the_docstring_table_is_the_shortcut_mapping():
    doc = FeatureMapLogger.__doc__
    table = dict(re.findall(r"(\w+) -> (\w+\.\w+)", doc))
    assert table == {flat: f"{group}.{field}" for flat, (group, field) in SHORTCUTS.items()}
    assert set(SHORTCUTS) == {
        "normalize",
        "clip_percentile",
        "colormap",
        "max_channels",
        "channel_order",
        "cols",
        "min_tile_size",
        "padding",
        "data_format",
        "max_tile_size",
        "timeline_max_rows",
        "timeline_max_channels",
        "embedding_data",
        "embedding_pooling",
        "embedding_max_points",
        "embedding_tsne",
        "embedding_keep_last",
    }


def test_groups_are_exported_and_pass_through_the_callback(tmp_path):
    assert fmlogger.TimelineSettings is TimelineSettings and fmlogger.EmbeddingSettings is EmbeddingSettings
    render = RenderSettings(colormap="magma", max_channels=2)
    callback = fmlogger.FeatureMapCallback(
        tmp_path, tiny_data(2)[0], ["conv1"], render=render, timeline=TimelineSettings(max_rows=2)
    )
    assert callback.logger.settings is render
    assert callback.logger.timelines.settings == TimelineSettings(max_rows=2)
