"""The Feature Maps dashboard's routes, through TensorBoard's own WSGI app and a Werkzeug client.

The app is built as ``tensorboard --logdir`` builds it (``program.TensorBoard`` with the plugins
found through entry points), over real runs: a tiny CNN trained with Keras' TensorBoard callback
and ``FeatureMapCallback`` (explanations included), and runs written with ``log_arrays`` whose
folder names look like markup or path traversal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fmlogger import tags
from fmlogger.runs.events import iter_values
from fmlogger.runs.read import read_run
from helpers.models import tiny_cnn, tiny_data

keras = pytest.importorskip("keras")
werkzeug_test = pytest.importorskip("werkzeug.test")
pytestmark = pytest.mark.filterwarnings("ignore:html5lib's sanitizer is deprecated:DeprecationWarning")

EVIL = '<img src=x onerror="window.__pwned=1">'
"""A run folder name that is markup: the page must show it as text."""
TRAVERSAL = "..%2F..%2Fescape"
EVIL_LAYER = "<b onmouseover=alert(1)>L</b>"
ARRAY_STEPS = 13
"""More steps than TensorBoard's 10 image samples per tag: the dashboard shows every one."""
ROUTE = "/data/plugin/fmlogger/"


def keras_run(log_dir, *, epochs: int = 2, explain: bool = True, layers=("conv1", "conv2")) -> None:
    """tiny_cnn trained ``epochs`` epochs with Keras' TensorBoard (train/validation runs) and
    ``FeatureMapCallback`` on ``layers`` (steps 0..epochs), optionally with explanations."""
    from fmlogger.callback import FeatureMapCallback
    from fmlogger.explain.settings import ExplainSettings

    keras.utils.set_random_seed(0)
    model = tiny_cnn()
    x, y = tiny_data(32)
    options = {}
    if explain:
        options = dict(saliency=["vanilla"], gradcam=["conv2"], activation_max={"conv1": [0, 1]},
                       explain_settings=ExplainSettings(actmax_steps=4, min_size=32))
    callback = FeatureMapCallback(log_dir, (x, y), list(layers), max_samples=2, on_error="raise", **options)
    model.fit(x, y, validation_data=(x, y), epochs=epochs, batch_size=16, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(os.fspath(log_dir)), callback])


def arrays_run(log_dir, *, steps: int = ARRAY_STEPS, layers=("a",), seed: int = 0) -> None:
    """A run written with ``FeatureMapLogger.log_arrays``: random [1, 4, 4, 3] arrays per layer."""
    from fmlogger.logger import FeatureMapLogger

    rng = np.random.default_rng(seed)
    with FeatureMapLogger(log_dir, max_samples=1, max_channels=2, timeline=False) as logger:
        for step in range(steps):
            logger.log_arrays({name: rng.random((1, 4, 4, 3), dtype=np.float32) for name in layers}, step)


def board_app(logdir):
    """TensorBoard's WSGI app as ``tensorboard --logdir`` makes it (every plugin, entry points too)."""
    from tensorboard import program
    from tensorboard.backend import application

    board = program.TensorBoard()
    board.configure(argv=[None, "--logdir", os.fspath(logdir)])
    return application.TensorBoardWSGIApp(
        board.flags, board.plugin_loaders, None, board.assets_zip_provider, None
    )


def plugin_of(app):
    return next(p for p in app._plugins if p.plugin_name == "fmlogger")


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    keras_run(root / "exp")
    arrays_run(root / EVIL, layers=("a", EVIL_LAYER))
    arrays_run(root / TRAVERSAL, steps=2, seed=1)
    other = root / "other"  # event files but no fmlogger_state.json: not an fmlogger run
    other.mkdir()
    train_events = sorted((root / "exp" / "train").iterdir())[0]
    (other / train_events.name).write_bytes(train_events.read_bytes())
    return root


@pytest.fixture(scope="module")
def client(logdir):
    return werkzeug_test.Client(board_app(logdir))


def get_json(client, route, **params):
    response = client.get(ROUTE + route, query_string=params)
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.data)


def runs_by_name(client):
    return {run["name"]: run for run in get_json(client, "runs")["runs"]}


def test_the_entry_point_loads_the_plugin_without_tensorflow_or_keras():
    code = (
        "import sys\n"
        "from tensorboard import default\n"
        "loaders = [p for p in default.get_dynamic_plugins()\n"
        "           if p.__module__ == 'fmlogger.dashboard.plugin']\n"
        "print(len(loaders), loaders[0].__name__)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["1 FeatureMapsLoader", "[]"]


def test_listing_shows_the_tab_only_where_fmlogger_runs_exist(client, tmp_path):
    listing = json.loads(client.get("/data/plugins_listing").data)["fmlogger"]
    assert listing["enabled"] is True
    assert listing["tab_name"] == "Feature Maps"
    assert listing["loading_mechanism"] == {"type": "IFRAME", "module_path": ROUTE + "index.js"}
    # Keras' runs alone (no fmlogger_state.json) and an empty folder: no tab
    keras_only = tmp_path / "keras_only"
    keras_run(keras_only, epochs=1, explain=False)
    (keras_only / tags.RUN_SUBDIR / tags.STATE_FILE).unlink()
    for folder in (keras_only, tmp_path / "empty"):
        folder.mkdir(exist_ok=True)
        other = werkzeug_test.Client(board_app(folder))
        assert json.loads(other.get("/data/plugins_listing").data)["fmlogger"]["enabled"] is False
        assert json.loads(other.get(ROUTE + "runs").data)["runs"] == []


def test_runs_lists_only_fmlogger_runs_with_layers_steps_probe_and_keras_runs(client, logdir):
    runs = runs_by_name(client)
    exp = f"exp/{tags.RUN_SUBDIR}"
    assert set(runs) == {exp, f"{EVIL}/{tags.RUN_SUBDIR}", f"{TRAVERSAL}/{tags.RUN_SUBDIR}"}
    run = runs[exp]
    assert run["layers"] == ["conv1", "conv2"]
    assert run["steps"] == [0, 1, 2]
    assert run["samples"] == 2
    state = json.loads((logdir / exp / tags.STATE_FILE).read_text())
    assert run["probe"]["sha256"] == state["probe"]["sha256"] and len(run["probe"]["sha256"]) == 64
    assert run["settings"]["normalize"] == state["settings"]["normalize"]
    assert run["keras"] == {"train": "exp/train", "validation": "exp/validation"}
    assert run["problems"] == []
    evil = runs[f"{EVIL}/{tags.RUN_SUBDIR}"]
    assert evil["steps"] == list(range(ARRAY_STEPS)) and evil["layers"] == ["a", EVIL_LAYER]
    assert evil["keras"] == {}


def test_tags_give_every_step_samples_size_and_description_of_each_image_tag(client, logdir):
    exp = f"exp/{tags.RUN_SUBDIR}"
    answer = get_json(client, "tags", run=exp)
    logged = read_run(logdir / exp, decode=False)
    expected = {t for t in logged.images}
    assert set(answer["tags"]) == expected
    explained = {"saliency/vanilla", "gradcam/conv2", "activation_max/conv1"}
    assert explained | {tags.timeline_tag("conv1")} <= expected
    written = {}  # (tag, step) -> the description written with that step
    for tag, step, value in iter_values(str(logdir / exp), plugin="images"):
        written[tag, step] = value.metadata.summary_description
    for tag, entry in answer["tags"].items():
        assert entry["steps"] == [e.step for e in logged.images[tag]], tag
        assert entry["samples"] == len(logged.images[tag][-1].pngs), tag
        assert len(set(entry["versions"])) == len(entry["steps"])
        assert entry["description"] == written[tag, entry["steps"][-1]], tag  # the newest
        for step in entry["steps"]:
            detail = get_json(client, "detail", run=exp, tag=tag, step=step)
            assert detail["description"] == written[tag, step], (tag, step)
    # activation maximization writes the values reached at each step into its description
    assert written["activation_max/conv1", 0] != written["activation_max/conv1", 2]
    conv1 = answer["tags"][tags.image_tag("conv1")]
    assert conv1["samples"] == 2 and conv1["steps"] == [0, 1, 2]
    assert "normalize=" in conv1["description"]
    assert answer["layers"]["conv1"]["channels"] == [0, 1, 2, 3]  # tiny_cnn's conv1 has 4 channels


def test_image_bytes_are_the_logged_pngs_at_every_step(client, logdir):
    from fmlogger.runs.events import decode_png

    for run in (f"exp/{tags.RUN_SUBDIR}", f"{EVIL}/{tags.RUN_SUBDIR}"):
        logged = read_run(logdir / run, decode=False)
        listed = get_json(client, "tags", run=run)["tags"]
        for tag in (tags.image_tag("conv1"), "saliency/vanilla", tags.image_tag(EVIL_LAYER)):
            if tag not in logged.images:
                continue
            for event in logged.images[tag]:
                for sample, png in enumerate(event.pngs):
                    response = client.get(ROUTE + "image", query_string=dict(
                        run=run, tag=tag, step=event.step, sample=sample))
                    assert response.status_code == 200
                    assert response.headers["Content-Type"] == "image/png"
                    assert response.data == png, (run, tag, event.step, sample)
            pixels = decode_png(client.get(ROUTE + "image", query_string=dict(
                run=run, tag=tag, step=0, sample=0)).data)
            assert pixels.shape[:2] == (listed[tag]["height"], listed[tag]["width"])
    evil_steps = get_json(client, "tags", run=f"{EVIL}/{tags.RUN_SUBDIR}")["tags"][tags.image_tag("a")]
    assert evil_steps["steps"] == list(range(ARRAY_STEPS))  # step 0 and all 13, not TensorBoard's 10


def test_scalars_give_layer_stats_and_keras_loss_on_the_epoch_axis(client, logdir):
    exp = f"exp/{tags.RUN_SUBDIR}"
    answer = get_json(client, "scalars", run=exp)
    logged = read_run(logdir / exp, decode=False)
    assert set(answer["stats"]) == {"conv1", "conv2"}
    assert answer["stat_names"] == list(tags.STAT_NAMES)
    for layer, stats in answer["stats"].items():
        assert set(stats) == set(tags.STAT_NAMES)
        for stat, points in stats.items():
            expected = logged.scalars[tags.stat_tag(layer, stat)]
            assert [p[0] for p in points] == [0, 1, 2]
            np.testing.assert_allclose([p[1] for p in points], [v for _, v in expected], rtol=1e-6)
    # Keras writes epoch e (after e + 1 epochs) at step e: plotted at e + 1, like fmlogger's step
    assert answer["keras_step_offset"] == 1
    train = read_run(logdir / "exp" / "train", decode=False).scalars["epoch_loss"]
    points = answer["keras"]["train"]["epoch_loss"]
    assert [p[0] for p in points] == [step + 1 for step, _ in train] == [1, 2]
    np.testing.assert_allclose([p[1] for p in points], [v for _, v in train], rtol=1e-6)
    assert "epoch_loss" in answer["keras"]["validation"]


@pytest.mark.parametrize(
    "route, params",
    [
        ("tags", {}),
        ("tags", {"run": ""}),
        ("tags", {"run": "../../etc/passwd"}),
        ("tags", {"run": "/etc"}),
        ("tags", {"run": "exp/../exp/feature_maps"}),
        ("tags", {"run": "exp"}),
        ("tags", {"run": "exp/train"}),
        ("tags", {"run": "../" + TRAVERSAL}),
        ("scalars", {"run": "x" * 5000}),
        ("image", {"run": "exp/feature_maps", "tag": "feature_maps/conv1", "step": "-1", "sample": "0"}),
        ("image", {"run": "exp/feature_maps", "tag": "feature_maps/conv1", "step": "1e3", "sample": "0"}),
        ("image", {"run": "exp/feature_maps", "tag": "feature_maps/conv1", "step": "", "sample": "0"}),
        ("image", {"run": "exp/feature_maps", "tag": "feature_maps/conv1", "step": "99", "sample": "0"}),
        ("image", {"run": "exp/feature_maps", "tag": "feature_maps/conv1", "step": "0", "sample": "2"}),
        ("image", {"run": "exp/feature_maps", "tag": "feature_maps/conv1", "step": "0", "sample": "x"}),
        ("image", {"run": "exp/feature_maps", "tag": "feature_maps/conv1", "step": "0"}),
        ("image", {"run": "exp/feature_maps", "tag": "feature_map_stats/conv1/mean", "step": "0",
                   "sample": "0"}),
        ("image", {"run": "exp/feature_maps", "tag": "../../fmlogger_state.json", "step": "0",
                   "sample": "0"}),
        ("image", {"run": "exp/train", "tag": "feature_maps/conv1", "step": "0", "sample": "0"}),
        ("detail", {"run": "exp/feature_maps", "tag": "feature_maps/conv1", "step": "7"}),
        ("detail", {"run": "exp/feature_maps", "tag": "feature_maps/nope", "step": "0"}),
    ],
)
def test_bad_parameters_give_400_with_a_message_and_no_traceback(client, route, params):
    response = client.get(ROUTE + route, query_string=params)
    assert response.status_code == 400, (route, params, response.data)
    body = json.loads(response.data)
    assert set(body) == {"error"} and body["error"]
    assert b"Traceback" not in response.data


def test_repeated_parameters_give_400(client):
    response = client.get(ROUTE + "tags?run=exp/feature_maps&run=exp/feature_maps")
    assert response.status_code == 400 and b"exactly one" in response.data


def test_markup_run_names_come_back_as_json_strings_only(client):
    response = client.get(ROUTE + "runs")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Type"].startswith("application/json")
    assert f"{EVIL}/{tags.RUN_SUBDIR}" in runs_by_name(client)
    assert b"<img" not in response.data  # JSON escapes < and > as \u003c \u003e


def test_static_files_are_a_fixed_set(client):
    entry = client.get("/data/plugin_entry.html?name=fmlogger")
    assert b'import("./index.js")' in entry.data
    for name, mimetype in (("index.js", "text/javascript"), ("views.js", "text/javascript"),
                           ("curves.js", "text/javascript"), ("dom.js", "text/javascript"),
                           ("style.css", "text/css")):
        response = client.get(ROUTE + name)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith(mimetype), name
    assert b"export async function render()" in client.get(ROUTE + "index.js").data
    for path in ("static/index.js", "../../../setup.cfg", "plugin.py", "index.py"):
        assert client.get(ROUTE + path).status_code == 404, path


def test_no_javascript_writes_markup():
    from importlib import resources

    static = resources.files("fmlogger.dashboard").joinpath("static")
    for name in ("index.js", "views.js", "curves.js", "dom.js"):
        source = static.joinpath(name).read_text().replace("'http://www.w3.org/2000/svg'", "")
        for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                          "new Function", "http://", "https://"):
            assert forbidden not in source, (name, forbidden)
