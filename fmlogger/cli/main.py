"""The ``fmlogger`` command line.

Example:
    $ fmlogger demo --logdir runs --epochs 3
    $ tensorboard --logdir runs
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from fmlogger.cli.quiet import quiet_tensorflow_import


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _demo(args) -> int:
    if args.backend:
        from fmlogger.capture.backend import select

        try:
            select(args.backend)
        except RuntimeError as err:
            print(f"fmlogger demo: {err}", file=sys.stderr)
            return 2
    from fmlogger.cli.demo import run_demo

    if not args.verbose and os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        quiet_tensorflow_import()
    run_demo(args.logdir, epochs=args.epochs, verbose=0 if args.quiet else 1, seed=args.seed,
             learning_rate=args.lr)
    logdir = shlex.quote(args.logdir)
    print(f"\nEvery view written to {args.logdir}/feature_maps. See every logged epoch with:\n")
    print(f"    fmlogger board --logdir {logdir}\n")
    print(f"(TensorBoard keeping every step in its Images tab; `tensorboard --logdir {logdir}` works too).")
    print("Feature Maps tab: every layer at every step, Compare, Explanations. Images tab: feature_maps/,")
    print("feature_map_timeline/, pca_rgb/, embedding_pca/, saliency/, gradcam/, activation_max/;")
    print("Scalars: feature_map_stats/; Projector: 'embedding @ epoch N', colour by label.")
    return 0


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0..65535 (0: any free port), got {text}")
    return value


def _board(args) -> int:
    from fmlogger.cli.board import serve

    return serve(args.logdir, host=args.host, port=args.port, samples=args.samples)


def _compare(args) -> int:
    import numpy as np

    from fmlogger._paths import write_atomic
    from fmlogger.cli.out_path import check_out_file
    from fmlogger.render.png import encode_png
    from fmlogger.runs.compare import compare_runs

    try:
        check_out_file(args.out)  # before reading: a bad --out fails fast
        result = compare_runs(args.run_a, args.run_b, args.layer, step=args.step, sample=args.sample)
        out = check_out_file(args.out, runs=result.runs)
    except (FileNotFoundError, ValueError) as err:
        print(f"fmlogger compare: {err}", file=sys.stderr)
        return 2
    for warning in result.warnings:
        print(f"fmlogger compare: warning: {warning}", file=sys.stderr)
    try:
        write_atomic(out, encode_png(result.image, level=6))  # a link named --out is replaced, not followed
    except OSError as err:
        print(f"fmlogger compare: cannot write --out={args.out!r}: {err}", file=sys.stderr)
        return 2
    summary = ""
    if result.diff is not None:
        changed = float(np.count_nonzero(result.diff)) / result.diff.size
        summary = f"; |a-b| max {int(result.diff.max())}, {changed:.0%} of pixels differ"
    print(
        f"wrote {args.out}: {result.runs[0]} step {result.steps[0]} | {result.runs[1]} step {result.steps[1]}"
        f" | difference ({result.tag}, sample {args.sample}{summary})"
    )
    return 0


def _export(args) -> int:
    from fmlogger.cli.out_path import BadOut, check_out_folder
    from fmlogger.runs.export import MissingPillow, export_run

    try:
        out = check_out_folder(args.out)
        result = export_run(args.logdir, out, gif=not args.no_gif, duration_ms=args.duration_ms)
    except (FileNotFoundError, BadOut) as err:
        print(f"fmlogger export: {err}", file=sys.stderr)
        return 2
    except MissingPillow as err:
        print(f"fmlogger export: PNGs written to {args.out}; {err}", file=sys.stderr)
        return 1
    except OSError as err:  # the output folder cannot be created or written
        print(f"fmlogger export: cannot write under --out={args.out!r}: {err}", file=sys.stderr)
        return 2
    for note in result.skipped:
        print(f"fmlogger export: skipped {note}", file=sys.stderr)
    print(f"wrote {len(result.pngs)} PNG(s) and {len(result.gifs)} GIF(s) under {args.out}")
    return 1 if result.damaged else 0  # partial: the damaged files were named on stderr


def _actmax_spec(text: str) -> tuple[str, object]:
    """``LAYER`` (first 16 channels), ``LAYER:8`` (first 8) or ``LAYER:0,3,5`` (these)."""
    layer, _, channels = text.partition(":")
    if not channels:
        return layer, None
    try:
        values = [int(c) for c in channels.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LAYER, LAYER:N or LAYER:C1,C2,..., got {text}") from None
    return layer, (values[0] if "," not in channels else values)


def _target(text: str):
    if text == "predicted":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'predicted' or a class index, got {text}") from None


def _inspect(args) -> int:
    from fmlogger.cli.inspect import inspect_model

    if not args.verbose:
        quiet_tensorflow_import()
    try:
        written = inspect_model(
            args.model,
            args.image,
            args.out,
            layers=args.layers,
            saliency=args.saliency,
            gradcam=args.gradcam,
            activation_max=dict(args.activation_max) if args.activation_max else None,
            target=args.target,
            rescale=args.rescale,
            colormap=args.colormap,
            alpha=args.alpha,
            actmax_steps=args.steps,
            progress=not args.quiet,
        )
    except (ImportError, ValueError, OSError) as err:
        print(f"fmlogger inspect: {err}", file=sys.stderr)
        return 2
    print(f"{len(written)} PNG files written under {args.out}:")
    for path in written:
        print(f"    {path}")
    return 0


def _add_inspect(commands) -> None:
    from fmlogger import tags

    inspect = commands.add_parser(
        "inspect",
        help="feature maps, saliency and Grad-CAM of a saved model on one image, as PNGs (no training)",
        description=(
            "Writes OUT/input.png, OUT/feature_maps/<layer>.png, OUT/saliency/<method>.png, "
            "OUT/gradcam/<layer>.png and, with --activation-max, OUT/activation_max/<layer>.png. "
            "PNG/JPEG images need Pillow (pip install pillow); without it pass a .npy array [H, W, C]."
        ),
    )
    inspect.add_argument("model", help="a saved Keras model (.keras)")
    inspect.add_argument(
        "image", help="an image file (PNG, JPEG, ...; needs Pillow) or a .npy array [H, W, C]"
    )
    inspect.add_argument("--out", required=True, help="output folder for the PNGs")
    inspect.add_argument(
        "--layers",
        nargs="+",
        default=None,
        help="feature-map layers: names, paths, patterns (default: every 4-D layer)",
    )
    inspect.add_argument(
        "--saliency",
        nargs="*",
        choices=tags.SALIENCY_METHODS,
        default=list(tags.SALIENCY_METHODS),
        help="saliency methods (default: all three; give the flag alone for none)",
    )
    inspect.add_argument(
        "--gradcam",
        nargs="*",
        default=None,
        help="Grad-CAM layers (default: the last convolution; the flag alone for none)",
    )
    inspect.add_argument(
        "--activation-max",
        nargs="*",
        type=_actmax_spec,
        default=None,
        metavar="LAYER[:N|:C1,C2,...]",
        help="activation maximization of these layers' channels (default: none)",
    )
    inspect.add_argument(
        "--target",
        type=_target,
        default="predicted",
        help="class to explain: 'predicted' (default) or an index",
    )
    inspect.add_argument(
        "--rescale",
        type=float,
        default=None,
        help="multiply pixels by this (default: 1/255 for image files, 1 for .npy)",
    )
    inspect.add_argument(
        "--colormap",
        default="viridis",
        help="heatmap colormap: gray, viridis, magma, coolwarm (default: viridis)",
    )
    inspect.add_argument(
        "--alpha", type=float, default=0.5, help="heatmap weight over the image, 0..1 (default: 0.5)"
    )
    inspect.add_argument(
        "--steps", type=_positive_int, default=64, help="activation-maximization steps (default: 64)"
    )
    inspect.add_argument("--quiet", action="store_true", help="no progress bar")
    inspect.set_defaults(run=_inspect)


def build_parser() -> argparse.ArgumentParser:
    from fmlogger import __version__

    parser = argparse.ArgumentParser(
        prog="fmlogger", description="See what a CNN's layers respond to, epoch after epoch, in TensorBoard."
    )
    parser.add_argument("--version", action="version", version=f"fmlogger {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="train a small CNN on the bundled digits and log its feature maps"
    )
    demo.add_argument("--logdir", default="runs/demo", help="TensorBoard log folder (default: runs/demo)")
    demo.add_argument("--epochs", type=_positive_int, default=5, help="epochs to train (default: 5)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.add_argument(
        "--seed", type=int, default=0, help="seed of the data split, weights and probe (default: 0)"
    )
    demo.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: 0.001)")
    demo.add_argument(
        "--backend", choices=("tensorflow", "jax", "torch"), default=None,
        help="Keras backend (default: KERAS_BACKEND or Keras' own setting)",
    )
    demo.set_defaults(run=_demo)

    board = commands.add_parser(
        "board", help="start TensorBoard showing every logged step (--samples_per_plugin images=N)"
    )
    board.add_argument("--logdir", required=True, help="TensorBoard log folder")
    board.add_argument(
        "--port", type=_port, default=None, help="port (default: 6006 or the next free one; 0: any free port)"
    )
    board.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)"
    )
    board.add_argument(
        "--samples", type=_positive_int, default=None,
        help="images kept per tag (default: the logdir's most steps per tag, plus headroom)",
    )
    board.set_defaults(run=_board)

    compare = commands.add_parser("compare", help="one layer of two runs side by side, plus the difference")
    compare.add_argument("run_a", help="first log folder (or its feature_maps run folder)")
    compare.add_argument("run_b", help="second log folder")
    compare.add_argument("--layer", required=True, help="layer path as logged, e.g. conv1 or backbone/conv1")
    compare.add_argument(
        "--step", type=int, default=None, help="step to compare (default: the newest step both runs logged)"
    )
    compare.add_argument("--sample", type=int, default=0, help="probe sample (default: 0)")
    compare.add_argument("--out", required=True, help="PNG to write")
    compare.set_defaults(run=_compare)

    export = commands.add_parser("export", help="every logged image as PNG, and a GIF per layer and sample")
    export.add_argument("--logdir", required=True, help="log folder (or its feature_maps run folder)")
    export.add_argument("--out", required=True, help="output folder")
    export.add_argument(
        "--no-gif", action="store_true", help="PNGs only (GIFs need Pillow: pip install 'fmlogger[export]')"
    )
    export.add_argument(
        "--duration-ms", type=_positive_int, default=500, help="GIF frame duration in ms (default: 500)"
    )
    export.set_defaults(run=_export)

    _add_inspect(commands)
    for name in ("demo", "inspect"):  # the commands that import TensorFlow
        commands.choices[name].add_argument(
            "--verbose", action="store_true", help="show TensorFlow's C++ start-up lines (hidden by default)"
        )
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
