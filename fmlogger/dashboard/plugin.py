"""The TensorBoard plugin ``fmlogger`` (tab "Feature Maps"): routes and the loader TensorBoard calls.

Registered through the ``tensorboard_plugins`` entry point of this distribution
(``fmlogger = fmlogger.dashboard.plugin:FeatureMapsLoader``); this module imports neither
TensorFlow nor Keras, since a plugin that fails to import stops TensorBoard.

Routes, under ``/data/plugin/fmlogger/`` (JSON unless said otherwise; bad parameters give 400 with
``{"error": ...}``, never a traceback):

- ``runs``: the fmlogger runs: layers, steps, samples, probe fingerprint, render settings, Keras
  runs beside them, problems found while reading.
- ``tags?run=R``: every indexed image tag of run ``R`` with its steps, sample count, size and
  description, plus the per-layer state (channels shown, fixed range, settings).
- ``image?run=R&tag=T&step=S&sample=I``: one logged PNG, exactly as written.
- ``detail?run=R&tag=T&step=S``: the description written with that step (channels, normalization).
- ``scalars?run=R``: the ``feature_map_stats`` series and Keras' ``epoch_*`` series, the latter at
  ``step + 1`` (epochs trained; see ``catalog.KERAS_STEP_OFFSET``).
- ``index.js`` and the other files of ``static/``: the ES module TensorBoard's page imports.

Example:
    $ tensorboard --logdir runs      # the "Feature Maps" tab; or: fmlogger board --logdir runs
"""

from __future__ import annotations

import functools
import json
import math
import re
from importlib import resources

from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from fmlogger import tags
from fmlogger.dashboard.catalog import KERAS_STEP_OFFSET, Catalog, Run
from fmlogger.runs.events import DamagedEventFile

PLUGIN_NAME = "fmlogger"
TAB_NAME = "Feature Maps"
STATIC_FILES = {
    "/index.js": "text/javascript",
    "/views.js": "text/javascript",
    "/curves.js": "text/javascript",
    "/dom.js": "text/javascript",
    "/style.css": "text/css",
}
"""The static files served (a fixed set: request paths never name files)."""

KINDS = {
    "feature_maps": [tags.IMAGE_PREFIX],
    "pca_rgb": [tags.PCA_RGB_PREFIX],
    "explanations": [tags.SALIENCY_PREFIX, tags.GRADCAM_PREFIX, tags.ACTMAX_PREFIX],
}
"""The dashboard's image views and the tag prefixes of each (sent to the page with ``runs``)."""
_INT = re.compile(r"[0-9]{1,12}")
MAX_PARAM_CHARS = 4096
IMAGE_CACHE_S = 3600
"""Browsers may keep an image this long: its URL names the record's serial (``v=``)."""


class BadRequest(ValueError):
    """A request parameter that is missing or invalid (answered with 400)."""


def _param(request, name: str) -> str:
    values = request.args.getlist(name)
    if len(values) != 1:
        raise BadRequest(f"give exactly one {name!r} parameter (got {len(values)})")
    if len(values[0]) > MAX_PARAM_CHARS:
        raise BadRequest(f"{name!r} is longer than {MAX_PARAM_CHARS} characters")
    return values[0]


def _int_param(request, name: str) -> int:
    value = _param(request, name)
    if not _INT.fullmatch(value):
        raise BadRequest(f"{name!r} must be a non-negative integer. Received: {name}={value[:40]!r}")
    return int(value)


def _points(points, offset: int = 0) -> list:
    """``[[step + offset, value], ...]`` with NaN and infinities as None (JSON has no NaN)."""
    return [[step + offset, value if math.isfinite(value) else None] for step, value in points]


def _json(request, content, code: int = 200):
    """JSON with ``<``, ``>`` and ``&`` escaped (they occur only inside strings: run and tag names),
    so a name that is markup stays inert even if some client sniffed the body as HTML."""
    text = json.dumps(content, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return http_util.Respond(request, text, "application/json", code=code)


def _route(handler):
    """Werkzeug app around ``handler(self, request)``: 400 for ``BadRequest``, 404 when the data
    went away, never a traceback."""

    @functools.wraps(handler)
    def app(self, request):
        try:
            return handler(self, request)
        except BadRequest as err:
            return _json(request, {"error": str(err)}, 400)
        except (DamagedEventFile, OSError) as err:
            return _json(request, {"error": f"cannot read it back: {type(err).__name__}"}, 404)

    return wrappers.Request.application(app)


class FeatureMapsPlugin(base_plugin.TBPlugin):
    """The "Feature Maps" dashboard (see the module docstring).

    Args:
        context: TensorBoard's ``TBContext``; only ``logdir`` is used.
    """

    plugin_name = PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext):
        self.catalog = Catalog(getattr(context, "logdir", None))

    def get_plugin_apps(self) -> dict:
        apps = {
            "/runs": self._serve_runs,
            "/tags": self._serve_tags,
            "/image": self._serve_image,
            "/detail": self._serve_detail,
            "/scalars": self._serve_scalars,
        }
        for route, mimetype in STATIC_FILES.items():
            apps[route] = functools.partial(self._serve_static, route[1:], mimetype)
        return apps

    def is_active(self) -> bool:
        """True when the log folder holds at least one fmlogger run."""
        return self.catalog.has_runs()

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(
            es_module_path="/index.js", tab_name=TAB_NAME, disable_reload=True
        )

    def data_plugin_names(self) -> tuple:
        return ()  # fmlogger's data is images and scalars; activity is decided by is_active

    def _run(self, request) -> Run:
        """The run named by the ``run`` parameter: looked up in the catalog, never used as a path."""
        name = _param(request, "run")
        run = self.catalog.get(name)
        if run is None and self.catalog.refresh():
            run = self.catalog.get(name)
        if run is None:
            raise BadRequest(f"no fmlogger run of that name. Received: run={name[:200]!r}")
        return run

    @wrappers.Request.application
    def _serve_static(self, name: str, mimetype: str, request):
        data = resources.files("fmlogger.dashboard").joinpath("static", name).read_bytes()
        return http_util.Respond(request, data, mimetype)

    @_route
    def _serve_runs(self, request):
        runs = self.catalog.refresh()
        return _json(request, {"runs": [self._summary(run) for run in runs.values()], "kinds": KINDS,
                               "keras_step_offset": KERAS_STEP_OFFSET})

    def _summary(self, run: Run) -> dict:
        images = run.index.image_tags()
        layers = [t[len(tags.IMAGE_PREFIX):] for t in images if t.startswith(tags.IMAGE_PREFIX)]
        steps = sorted({s for t in images if t.startswith(tags.IMAGE_PREFIX) for s in images[t]["steps"]})
        state = run.state()
        return {
            "name": run.name,
            "layers": layers,
            "steps": steps,
            "samples": max((images[tags.image_tag(layer)]["samples"] for layer in layers), default=0),
            "probe": state.get("probe"),
            "settings": state.get("settings"),
            "keras": {k: self.catalog.keras_run_name(run, k) for k in run.keras},
            "problems": list(run.index.problems),
        }

    @_route
    def _serve_tags(self, request):
        self.catalog.refresh()
        run = self._run(request)
        state = run.state()
        return _json(request, {"run": run.name, "tags": run.index.image_tags(),
                               "layers": state.get("layers") or {}})

    def _image_at(self, request) -> tuple[Run, str, int]:
        run = self._run(request)
        tag, step = _param(request, "tag"), _int_param(request, "step")
        if not run.index.has(tag, step):
            raise BadRequest(f"run {run.name!r} has no image {tag[:200]!r} at step {step}")
        return run, tag, step

    @_route
    def _serve_detail(self, request):
        run, tag, step = self._image_at(request)
        return _json(request, {"run": run.name, "tag": tag, "step": step,
                               "description": run.index.description(tag, step)})

    @_route
    def _serve_image(self, request):
        run, tag, step = self._image_at(request)
        sample = _int_param(request, "sample")
        if sample >= run.index.samples(tag):
            raise BadRequest(f"sample must be below {run.index.samples(tag)}. Received: sample={sample}")
        png = run.index.image(tag, step, sample)
        if png is None:
            raise BadRequest(f"step {step} of {tag[:200]!r} holds no sample {sample}")
        return http_util.Respond(request, png, "image/png", expires=IMAGE_CACHE_S)

    @_route
    def _serve_scalars(self, request):
        self.catalog.refresh()
        run = self._run(request)
        keras = {
            name: {tag: _points(points, KERAS_STEP_OFFSET) for tag, points in index.scalar_series().items()}
            for name, index in run.keras.items()
        }
        stats: dict[str, dict] = {}
        for tag, points in run.index.scalar_series().items():
            layer, _, stat = tag[len(tags.STATS_PREFIX):].rpartition("/")
            stats.setdefault(layer, {})[stat] = _points(points)
        return _json(request, {"run": run.name, "stats": stats, "stat_names": list(tags.STAT_NAMES),
                               "keras": keras, "keras_step_offset": KERAS_STEP_OFFSET})


class FeatureMapsLoader(base_plugin.TBLoader):
    """What the ``tensorboard_plugins`` entry point names: makes the plugin for TensorBoard."""

    def load(self, context: base_plugin.TBContext) -> FeatureMapsPlugin:
        return FeatureMapsPlugin(context)
