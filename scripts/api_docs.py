"""Builds the API reference (HTML, from the docstrings) with pdoc: ``python scripts/api_docs.py OUT``.

Documents ``fmlogger`` and every public module under it (file names without a leading
underscore), found on disk so that nothing is missed. Needs ``pip install pdoc`` (in the test
extra); no network.

Example:
    $ python scripts/api_docs.py build/api && xdg-open build/api/index.html
"""

from __future__ import annotations

import os
import sys

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fmlogger")


def public_modules(package_dir: str = PACKAGE) -> list[str]:
    """``["fmlogger", "fmlogger.callback", ...]``: the package and its modules without a ``_`` prefix."""
    names = []
    root = os.path.dirname(package_dir)
    for folder, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")) and d != "static")
        relative = os.path.relpath(folder, root).replace(os.sep, ".")
        if "__init__.py" in files:
            names.append(relative)
        modules = [f[:-3] for f in sorted(files) if f.endswith(".py") and not f.startswith("_")]
        names += [f"{relative}.{m}" for m in modules]
    return names


def build(out_dir: str) -> list[str]:
    """Writes the HTML reference into ``out_dir``; returns the modules documented."""
    from pathlib import Path

    import pdoc

    specs, covered = [], set()
    for name in public_modules():  # a package whose __all__ leaves out its modules is followed by them
        if name not in covered:
            covered.update(pdoc.extract.walk_specs([name]))
            specs.append(name)
    pdoc.render.configure(docformat="google", search=False, show_source=False)
    pdoc.pdoc(*specs, output_directory=Path(out_dir))
    return sorted(covered)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/api_docs.py OUT_DIR")
    print(f"{len(build(sys.argv[1]))} modules documented under {sys.argv[1]}/index.html")
