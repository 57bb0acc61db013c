"""The numpy side and the read side never load a backend: checked in fresh interpreters.

``fmlogger.render`` and ``fmlogger.runs`` must import without TensorFlow or Keras, and rendering
must work where neither can be imported at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from helpers import tb_http

pytestmark = pytest.mark.slow  # every test starts a fresh interpreter

def _run(code: str) -> dict:
    """Runs ``code`` in a fresh interpreter (this one's ``sys.path``); returns the JSON it prints last."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=tb_http.popen_env()
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_module_of_render_and_runs_imports_without_a_backend():
    report = _run(
        """
        import importlib, json, pkgutil, sys
        import fmlogger.render, fmlogger.runs

        names = []
        for package in (fmlogger.render, fmlogger.runs):
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                importlib.import_module(info.name)
                names.append(info.name)
        loaded = [m for m in ("tensorflow", "keras") if m in sys.modules]
        print(json.dumps({"modules": names, "loaded": loaded}))
        """
    )
    assert report["loaded"] == []
    # the walk found the modules (a walk that finds nothing would pass the check above vacuously)
    expected = {"fmlogger.render.renderer", "fmlogger.render.font", "fmlogger.render.sprite",
                "fmlogger.runs.events", "fmlogger.runs.read", "fmlogger.runs.export"}
    assert expected <= set(report["modules"]), report["modules"]


def test_other_light_modules_import_without_a_backend():
    report = _run(
        """
        import json, sys
        import fmlogger.capture, fmlogger.explain.gradcam, fmlogger.sinks.state, fmlogger.cli.board

        print(json.dumps([m for m in ("tensorflow", "keras") if m in sys.modules]))
        """
    )
    assert report == []


def test_render_works_with_tensorflow_and_keras_blocked():
    report = _run(
        """
        import json, sys
        import numpy as np

        for name in ("tensorflow", "keras"):
            sys.modules[name] = None  # any import of it now raises ImportError
        try:
            import tensorflow
            blocked = False
        except ImportError:
            blocked = True
        import fmlogger

        maps = np.arange(2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
        settings = fmlogger.RenderSettings(max_channels=2, min_tile_size=8, colormap="viridis")
        frame = fmlogger.Renderer(settings).render("conv1", maps)
        print(json.dumps({
            "blocked": blocked,
            "shape": list(frame.images.shape),
            "dtype": str(frame.images.dtype),
            "channels": list(frame.channels),
            "first_tile": frame.images[0, 1:9, 1:9].tolist(),
        }))
        """
    )
    assert report["blocked"]
    # 2 channels of 4x4 upscaled x2 -> 8x8 tiles in a 1 x 2 grid with 1 px padding: 10 x 19
    assert report["shape"] == [2, 10, 19, 3] and report["dtype"] == "uint8"
    assert report["channels"] == [0, 1]
    from fmlogger.render.colormaps import lookup_table

    # channel 0 of sample 0 holds 0, 3, ..., 45 (per_map: 0 -> 0.0, 45 -> 1.0); the top-left
    # source pixel (0) is the colormap's first entry, the bottom-right (45) its last
    tile = np.asarray(report["first_tile"], np.uint8)
    np.testing.assert_array_equal(tile[0, 0], lookup_table("viridis")[0])
    np.testing.assert_array_equal(tile[-1, -1], lookup_table("viridis")[255])
    np.testing.assert_array_equal(tile[:2, :2], np.broadcast_to(tile[0, 0], (2, 2, 3)))  # x2 nearest
