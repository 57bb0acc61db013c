import subprocess
import sys

import pytest


@pytest.mark.slow  # a subprocess
def test_import_fmlogger_does_not_import_tensorflow_or_keras():
    code = (
        "import sys, fmlogger, fmlogger.render.renderer, fmlogger.logger, fmlogger.tags, fmlogger.cli.main\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow  # a subprocess
def test_public_names_load_lazily():
    code = (
        "import fmlogger, sys; fmlogger.FeatureMapCallback; print('keras' in sys.modules, "
        "{'FeatureMapCallback', 'FeatureMapLogger'} <= set(fmlogger.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
