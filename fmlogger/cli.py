"""The ``fmlogger`` command line.

Example:
    $ fmlogger demo --logdir runs --epochs 3
    $ tensorboard --logdir runs
"""

from __future__ import annotations

import argparse
import shlex
import sys


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _demo(args) -> int:
    from fmlogger.demo import run_demo

    run_demo(args.logdir, epochs=args.epochs, verbose=0 if args.quiet else 1)
    print(f"\nFeature maps written to {args.logdir}/feature_maps. Open them with:\n")
    print(f"    tensorboard --logdir {shlex.quote(args.logdir)}\n")
    print("then the Images tab (scalars of the feature maps are under feature_map_stats/).")
    return 0


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0..65535 (0: any free port), got {text}")
    return value


def _board(args) -> int:
    from fmlogger.board import serve

    return serve(args.logdir, host=args.host, port=args.port, samples=args.samples)


def _compare(args) -> int:
    import numpy as np

    from fmlogger._png import encode_png
    from fmlogger.compare import compare_runs

    try:
        result = compare_runs(args.run_a, args.run_b, args.layer, step=args.step, sample=args.sample)
    except (FileNotFoundError, ValueError) as err:
        print(f"fmlogger compare: {err}", file=sys.stderr)
        return 2
    for warning in result.warnings:
        print(f"fmlogger compare: warning: {warning}", file=sys.stderr)
    with open(args.out, "wb") as f:
        f.write(encode_png(result.image, level=6))
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
    from fmlogger.export import MissingPillow, export_run

    try:
        result = export_run(args.logdir, args.out, gif=not args.no_gif, duration_ms=args.duration_ms)
    except FileNotFoundError as err:
        print(f"fmlogger export: {err}", file=sys.stderr)
        return 2
    except MissingPillow as err:
        print(f"fmlogger export: PNGs written to {args.out}; {err}", file=sys.stderr)
        return 1
    for note in result.skipped:
        print(f"fmlogger export: skipped {note}", file=sys.stderr)
    print(f"wrote {len(result.pngs)} PNG(s) and {len(result.gifs)} GIF(s) under {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fmlogger", description="See what a CNN's layers respond to, epoch after epoch, in TensorBoard."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser("demo", help="train a small CNN on the bundled digits and log its feature maps")
    demo.add_argument("--logdir", default="runs/demo", help="TensorBoard log folder (default: runs/demo)")
    demo.add_argument("--epochs", type=_positive_int, default=5, help="epochs to train (default: 5)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
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
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
