"""``fmlogger board``: TensorBoard with enough image samples to show every logged step.

TensorBoard keeps 10 steps per image tag unless started with ``--samples_per_plugin images=N``
(and ``images=0`` shows nothing in TensorBoard 2.21). ``fmlogger board`` counts the steps of every
image tag under the log folder, starts TensorBoard with ``N`` = that count plus headroom for the
steps still to come, on 127.0.0.1 by default, and prints the URL of its Feature Maps tab
(``#fmlogger``, ``fmlogger.dashboard``), which shows every logged step whatever the flags.

Example:
    $ fmlogger board --logdir runs --port 6006
    TensorBoard at http://127.0.0.1:6006/ (images: up to 130 steps per tag); the Feature Maps tab:
    http://127.0.0.1:6006/#fmlogger . Ctrl+C stops it.
"""

from __future__ import annotations

import os
import sys

from fmlogger._paths import is_remote
from fmlogger.runs.events import event_files, iter_values

TENSORBOARD_DEFAULT_SAMPLES = 10
_hinted: set[str] = set()


def image_step_counts(logdir: str) -> dict[tuple[str, str], int]:
    """``{(run, tag): number of distinct steps}`` for every image tag in every run under ``logdir``."""
    counts: dict[tuple[str, str], set] = {}
    for folder, _, _ in os.walk(logdir):
        if not event_files(folder):
            continue
        run = os.path.relpath(folder, logdir)
        for tag, step, _ in iter_values(folder, plugin="images"):
            counts.setdefault((run, tag), set()).add(step)
    return {key: len(steps) for key, steps in counts.items()}


def samples_needed(logdir: str) -> int:
    """The ``images=N`` for ``logdir``: the most steps of any image tag, plus as many again (>= 100)
    for the steps still to come. At least 100."""
    most = max(image_step_counts(logdir).values(), default=0)
    return most + max(most, 100)


def tensorboard_argv(
    logdir: str, *, host: str = "127.0.0.1", port: int | None = None, samples: int
) -> list[str]:
    """TensorBoard's command line flags for ``fmlogger board``."""
    argv = ["--logdir", os.fspath(logdir), "--host", host, "--samples_per_plugin", f"images={samples}"]
    if port is not None:
        argv += ["--port", str(port)]
    return argv


def launch(logdir: str, *, host: str = "127.0.0.1", port: int | None = None, samples: int | None = None):
    """Starts TensorBoard in this process (a server thread) and returns ``(url, samples)``.

    Args:
        logdir: the log folder.
        host: the address to bind (loopback by default; ``0.0.0.0`` exposes it to the network).
        port: the port; None lets TensorBoard pick 6006 or the next free one; 0 any free port.
        samples: images per tag TensorBoard keeps; None counts them in ``logdir``.
    """
    from tensorboard import program

    samples = samples_needed(logdir) if samples is None else samples
    board = program.TensorBoard()
    board.configure(argv=[None] + tensorboard_argv(logdir, host=host, port=port, samples=samples))
    return board.launch(), samples


def serve(
    logdir: str, *, host: str = "127.0.0.1", port: int | None = None, samples: int | None = None
) -> int:
    """``fmlogger board``: launches TensorBoard, prints the URL, serves until interrupted."""
    import threading

    if not os.path.isdir(logdir):
        print(f"fmlogger board: --logdir {logdir!r} is not a folder.", file=sys.stderr)
        return 2
    from fmlogger.dashboard.plugin import PLUGIN_NAME

    url, samples = launch(logdir, host=host, port=port, samples=samples)
    print(
        f"TensorBoard at {url} (images: up to {samples} steps per tag); the Feature Maps tab: "
        f"{url}#{PLUGIN_NAME} . Ctrl+C stops it.",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


def planned_steps(params: dict | None, every_n_epochs: int = 1, every_n_batches: int | None = None) -> int:
    """How many steps a ``FeatureMapCallback`` will log in a ``fit`` with these ``params`` (upper bound)."""
    params = params or {}
    epochs = int(params.get("epochs") or 0)
    if every_n_batches:
        batches = epochs * int(params.get("steps") or 0)
        return 1 + batches // every_n_batches + (1 if batches % every_n_batches else 0)  # + the last
    return 1 + epochs // every_n_epochs + (1 if epochs % every_n_epochs else 0)


def board_hint(
    log_dir: str, params: dict | None, every_n_epochs: int = 1, every_n_batches: int | None = None
) -> bool:
    """Prints, once per log folder and process, how to see more than TensorBoard's 10 steps."""
    steps = planned_steps(params, every_n_epochs, every_n_batches)
    key = os.fspath(log_dir) if is_remote(log_dir) else os.path.abspath(os.fspath(log_dir))
    if steps <= TENSORBOARD_DEFAULT_SAMPLES or key in _hinted:
        return False
    _hinted.add(key)
    print(
        f"fmlogger: up to {steps} steps will be logged, but TensorBoard shows only "
        f"{TENSORBOARD_DEFAULT_SAMPLES} per image tag by default. See them all with\n"
        f"    fmlogger board --logdir {log_dir}\n"
        "(TensorBoard with --samples_per_plugin images=N), or in the feature_map_timeline/ images, "
        "whose newest step holds every logged step.",
        flush=True,
    )
    return True
