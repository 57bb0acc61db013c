"""Hostile construction input: each bad value fails at construction with a message naming the argument."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fmlogger import FeatureMapLogger


@pytest.mark.parametrize(
    "run_name", ["..", ".", "", " ", "a/b", "../escape", "a\\b", "/abs/path", "nul\0name", 3, None]
)
def test_run_name_must_be_one_folder_name(tmp_path, run_name):
    with pytest.raises(ValueError, match=r"run_name must be one folder name.*Received: run_name=") as info:
        FeatureMapLogger(str(tmp_path / "logs"), run_name=run_name)
    assert repr(run_name) in str(info.value)
    assert not (tmp_path / "logs").exists() and not os.path.exists(tmp_path / "escape")


def test_plain_run_names_are_accepted(tmp_path):
    logger = FeatureMapLogger(str(tmp_path), run_name="exp-1 (lr=0.1)", render=None)
    logger.log_arrays({"conv1": np.ones((1, 4, 4, 2))}, step=0)
    logger.close()
    assert os.path.isdir(tmp_path / "exp-1 (lr=0.1)")


def _tiny():
    from helpers.models import tiny_cnn, tiny_data

    return tiny_cnn(), tiny_data()


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"clip_percentile": "1"}, "clip_percentile"),
        ({"clip_percentile": True}, "clip_percentile"),
        ({"min_tile_size": 100_000}, "min_tile_size"),
        ({"padding": 100_000}, "padding"),
        ({"timeline": 1}, "timeline"),
        ({"resume": "yes"}, "resume"),
        ({"resume": 1}, "resume"),
        ({"layers": (name for name in ["conv1"])}, "layers"),
    ],
)
def test_bad_options_name_the_argument(tmp_path, kwargs, argument):
    with pytest.raises(ValueError, match=rf"^{argument}\b.*Received: {argument}=") as info:
        FeatureMapLogger(str(tmp_path), **kwargs)
    assert repr(next(iter(kwargs.values())))[:20] in str(info.value)


@pytest.mark.parametrize(
    "kwargs, allowed",
    [
        ({"gradcam": 3}, "a layer name or path ('backbone/conv3'), a list of them, or None"),
        ({"gradcam": True}, "a layer name or path"),
        ({"gradcam": (name for name in ["conv2"])}, "a layer name or path"),
        ({"saliency": 3}, "a method among ('vanilla', 'smoothgrad', 'integrated_gradients')"),
        ({"explain": {"ig_baseline": "a"}}, "a finite number, or a numeric array"),
        ({"explain": {"ig_baseline": float("nan")}}, "a finite number"),
        ({"explain": {"smoothgrad_noise": float("nan")}}, "a finite number >= 0"),
        ({"explain": {"smoothgrad_noise": float("inf")}}, "a finite number >= 0"),
        ({"explain": {"smoothgrad_noise": -0.1}}, "a finite number >= 0"),
        ({"explain": {"smoothgrad_noise": "0.1"}}, "a finite number >= 0"),
        ({"explain": {"actmax_learning_rate": float("inf")}}, "a finite number >= 0"),
        ({"explain": {"clip_percentile": "1"}}, "a number in [0, 50) or None"),
        ({"explain": {"actmax_value_range": "ab"}}, "(low, high) of finite numbers with high > low"),
        ({"explain": {"actmax_value_range": (float("-inf"), 1.0)}}, "(low, high) of finite numbers"),
    ],
)
@pytest.mark.parametrize("cls", ["FeatureMapLogger", "FeatureMapCallback"])
def test_bad_explain_options_fail_at_construction_listing_what_is_allowed(tmp_path, kwargs, allowed, cls):
    """``gradcam=``/``saliency=`` are checked by the logger, the ``ExplainSettings`` fields (passed
    as ``explain=ExplainSettings(...)``; they have no flat keyword) when the group is built."""
    import fmlogger

    make = getattr(fmlogger, cls)
    args = (np.zeros((2, 16, 16, 1), np.float32),) if cls == "FeatureMapCallback" else ()
    (argument, value), = (kwargs.get("explain") or kwargs).items()
    with pytest.raises(ValueError, match=rf"^{argument} must be ") as info:
        if "explain" in kwargs:
            kwargs = {"explain": fmlogger.ExplainSettings(**kwargs["explain"])}
        make(str(tmp_path / "logs"), *args, **kwargs)
    assert allowed in str(info.value) and str(info.value).endswith(f"Received: {argument}={value!r}")
    assert not (tmp_path / "logs").exists()


def test_tile_bounds_are_inclusive(tmp_path):
    from fmlogger.render.renderer import MAX_MIN_TILE_SIZE, MAX_PADDING, RenderSettings

    settings = RenderSettings(min_tile_size=MAX_MIN_TILE_SIZE, padding=MAX_PADDING)
    assert (settings.min_tile_size, settings.padding) == (512, 64)


@pytest.mark.parametrize(
    "log_dir, error, text",
    [
        ("runs/a\0b", ValueError, "NUL"),
        (b"runs", TypeError, "not bytes"),
        ("foo://bucket/runs", ValueError, "scheme 'foo'"),
    ],
)
def test_bad_log_dirs_name_the_argument(log_dir, error, text):
    with pytest.raises(error, match="log_dir") as info:
        FeatureMapLogger(log_dir)
    assert text in str(info.value) and repr(log_dir) in str(info.value)


@pytest.mark.parametrize("log_dir", ["gs://bucket/runs", "s3://bucket/runs", "hdfs://nn/runs"])
def test_tensorflow_file_systems_are_accepted(log_dir):
    from fmlogger.sinks.event_sink import check_log_dir

    assert check_log_dir(log_dir) == log_dir  # no network here: the logger itself would read its state


@pytest.mark.parametrize(
    "probe, text",
    [
        (None, "Received: probe=None"),
        ("images/", "Received: probe='images/'"),
        ((row for row in np.zeros((4, 16, 16, 1))), "one-shot iterator"),
        (np.array([object()] * 4, dtype=object), "dtype object"),
        (np.array(["a", "b"]), "dtype <U1"),
    ],
)
def test_probes_that_are_no_batch_are_named(tmp_path, probe, text):
    from fmlogger import FeatureMapCallback

    with pytest.raises(ValueError, match="^probe") as info:
        FeatureMapCallback(str(tmp_path), probe)
    assert text in str(info.value) and "empty batch" not in str(info.value)


def test_logger_log_checks_its_inputs_and_step(tmp_path):
    model, (x, _) = _tiny()
    with FeatureMapLogger(str(tmp_path), ["conv1"], background=False) as logger:
        with pytest.raises(ValueError, match="^inputs.*Received: inputs=None"):
            logger.log(model, None, step=0)
        with pytest.raises(ValueError, match=r"^step must be an integer >= 0. Received: step=-1"):
            logger.log(model, x, step=-1)
    assert not any(tmp_path.rglob("events.out.tfevents.*"))


@pytest.mark.parametrize("step", [1.5, -1, "3", None, True])
def test_log_arrays_step_must_be_a_non_negative_integer(tmp_path, step):
    with FeatureMapLogger(str(tmp_path), background=False) as logger:
        with pytest.raises(ValueError, match=rf"^step must be an integer >= 0. Received: step={step!r}"):
            logger.log_arrays({"conv1": np.ones((1, 4, 4, 2))}, step=step)
    assert not any(tmp_path.rglob("events.out.tfevents.*"))


def test_embedding_labels_must_match_the_samples(tmp_path):
    x = np.zeros((16, 16, 16, 1), np.float32)
    with pytest.raises(ValueError, match=r"^embedding_data: .*16 samples and 3 labels"):
        FeatureMapLogger(str(tmp_path), embeddings=["conv2"], embedding_data=(x, np.zeros(3)))


def test_pca_rgb_naming_no_logged_layer_fails_when_training_starts(tmp_path):
    from fmlogger import FeatureMapCallback

    model, (x, y) = _tiny()
    callback = FeatureMapCallback(str(tmp_path), x, ["conv1", "conv2"], pca_rgb=["conv9"])
    with pytest.raises(ValueError, match=r"pca_rgb=\['conv9'\] names no logged layer.*conv1, conv2") as info:
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert "epoch" not in str(info.value)
    assert callback.logged_steps == []


_OTHER_WRITER = """
import sys, numpy as np
from fmlogger import FeatureMapLogger
logger = FeatureMapLogger(sys.argv[1], background=False)
logger.log_arrays({"conv1": np.ones((1, 4, 4, 2))}, step=0)
print("ready", flush=True)
sys.stdin.read()
"""


def test_two_processes_on_one_run_folder_warn(tmp_path, caplog):
    import subprocess
    import sys

    child = subprocess.Popen(
        [sys.executable, "-c", _OTHER_WRITER, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        with FeatureMapLogger(str(tmp_path), background=False) as logger:
            logger.log_arrays({"conv1": np.ones((1, 4, 4, 2))}, step=1)
        warned = [r.getMessage() for r in caplog.records if f"pid {child.pid}" in r.getMessage()]
    finally:
        child.kill()
        child.wait()
    assert warned and "run_name=" in warned[0]
    caplog.clear()
    with FeatureMapLogger(str(tmp_path), background=False) as logger:  # the killed writer's mark is stale
        logger.log_arrays({"conv1": np.ones((1, 4, 4, 2))}, step=2)
    assert not [r for r in caplog.records if "another process" in r.getMessage()]
