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
    print("The Projector tab (pick it under the tab menu's 'Inactive' list if it is not shown) has")
    print("'conv3 @ epoch N' for every epoch: colour by label, predicted or correct; the sprite shows the digits.")
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
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
