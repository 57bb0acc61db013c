"""Per-stage milliseconds of one logged step, against its floor (forward pass + PNG encoding).

For the demo CNN and the 128x128 CNN (64/128/256 channels), at default settings (every 4-D
layer, ``max_samples=4``, ``max_channels=64``, gray) and with ``colormap="viridis"``:

    forward      the compiled forward pass of the probe + copy to host (``Capture.__call__``)
    stats        mean/std/zero fraction/NaN count of every output
    normalize    block-average maps over max_tile_size + normalize + quantize to uint8
    colormap     colour lookup (gray: none)
    tile         grid + nearest-neighbour upscale
    encode       PNG encoding of the final pixels (zlib level 1, "Up" filter, gray: Z_RLE)
    write        one event with every image and scalar of the step, + flush
    step         ``FeatureMapLogger.log`` with ``background=False`` (all of the above, end to end)
    floor        forward + encode of the same pixels at the same settings
    stall        ``FeatureMapLogger.log`` with ``background=True``: what the training thread waits

Every function runs once per round, rounds rotate the order; medians over ``--repeats`` rounds.

Usage:
    python benchmarks/pipeline.py [--repeats 9] [--models demo,cnn128] [--colormaps gray,viridis]
                                  [--no-timeline]   (also with timeline=False)
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import zlib

import _common  # noqa: F401  (sets up sys.path and TF logging)
import numpy as np
from _common import cnn128_data, cnn128_model, demo_data, demo_model, interleaved, machine, table


def _event_bytes(run_dir: str) -> int:
    return sum(os.path.getsize(os.path.join(run_dir, f)) for f in os.listdir(run_dir))


def measure(model, x, *, colormap: str, repeats: int, tmp: str, timeline: bool = True) -> dict:
    from fmlogger.logger import FeatureMapLogger
    from fmlogger.render import resize, tiling
    from fmlogger.render.png import encode_png
    from fmlogger.render.renderer import colorize_codes, quantized, to_maps
    from fmlogger.render.stats import activation_stats

    name = f"{model.name}-{colormap}-{'timeline' if timeline else 'no-timeline'}"
    sync = FeatureMapLogger(
        os.path.join(tmp, f"sync-{name}"), colormap=colormap, background=False, timeline=timeline
    )
    bg = FeatureMapLogger(os.path.join(tmp, f"bg-{name}"), colormap=colormap, timeline=timeline)
    x = x[: sync.max_samples]
    sync.log(model, x, 0)  # resolves layers, traces the pass, fixes channel choices
    bg.log(model, x, 0)
    bg.flush()
    capture = sync.capture_for(model, x)
    arrays = capture(x)
    renderer, s = sync.renderer, sync.settings
    frames = {name: renderer.render(name, a, capture.data_formats[name]) for name, a in arrays.items()}

    prepared = {}
    for name, a in arrays.items():
        maps, kind = to_maps(a, capture.data_formats[name])
        chosen = renderer.channels_for(name, maps) if kind == "grid" else None
        maps = maps[:, chosen] if chosen is not None else maps
        prepared[name] = maps
    shrink = {
        n: resize.downscale_factor(m.shape[2], m.shape[3], s.max_tile_size) if frames[n].kind == "grid" else 1
        for n, m in prepared.items()
    }

    def normalize_stage():  # block-average big maps (max_tile_size), normalize, quantize
        return {
            n: quantized(resize.block_mean(m, shrink[n]) if shrink[n] > 1 else m, s.normalize)
            for n, m in prepared.items()
        }

    codes = normalize_stage()
    prepared = {n: resize.block_mean(m, shrink[n]) if shrink[n] > 1 else m for n, m in prepared.items()}
    pixels = {n: colorize_codes(c, mk, s.colormap) for n, (c, mk) in codes.items()}
    scales = {}
    for name, maps in prepared.items():
        kind = frames[name].kind
        if kind == "grid":
            scales[name] = (resize.upscale_factor(maps.shape[2], maps.shape[3], s.min_tile_size),) * 2
        else:
            scales[name] = resize.axis_scale(maps.shape[2], maps.shape[3], s.min_tile_size)
    pngs = {n: [encode_png(i) for i in f.images] for n, f in frames.items()}
    image_rows = [
        (f"feature_maps/{n}", f.images.shape[2], f.images.shape[1], pngs[n], f.description)
        for n, f in frames.items()
    ]
    scalar_rows = [(f"feature_map_stats/{n}/{k}", v) for n, f in frames.items() for k, v in f.stats.items()]
    step = iter(range(1, 10**6))

    def bg_log():
        bg.log(model, x, next(step))

    fns = {
        "forward": lambda: capture(x),
        "stats": lambda: [activation_stats(a) for a in arrays.values()],
        "normalize": normalize_stage,
        "colormap": lambda: [colorize_codes(c, mk, s.colormap) for c, mk in codes.values()],
        "tile": lambda: [
            tiling.tile(p, scale=scales[n], cols=s.cols, padding=s.padding, pad_code=pad)
            for n, (p, pad) in pixels.items()
        ],
        "encode": lambda: [encode_png(i) for f in frames.values() for i in f.images],
        "write": lambda: (
            sync.sink.writer.write_step(next(step), pngs=image_rows, scalars=scalar_rows),
            sync.sink.writer.flush(),
        ),
        "step": lambda: sync.log(model, x, next(step)),
        "floor": lambda: (capture(x), [encode_png(i) for f in frames.values() for i in f.images]),
        "stall": bg_log,
    }
    # The stall is timed alone: the worker of the previous round is drained first.
    times = {name: [] for name in fns}
    for r in range(repeats):
        names = list(fns)[r % len(fns):] + list(fns)[: r % len(fns)]
        for name in names:
            bg.flush()
            part = interleaved({name: fns[name]}, 1, warmup=0)
            times[name].extend(part[name])
    bg.close()
    before = _event_bytes(sync.run_dir)
    for _ in range(3):
        sync.log(model, x, next(step))
    per_step = (_event_bytes(sync.run_dir) - before) / 3
    sync.close()
    ms = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    ms["layers"] = len(arrays)
    ms["pixels"] = sum(int(np.prod(f.images.shape)) for f in frames.values())
    ms["bytes_per_step"] = per_step
    ms["frames"] = frames
    return ms


def encoder_table(frames) -> list[list]:
    """zlib level/strategy choices on the same pixels (all PNG-valid; TensorBoard decodes each)."""
    from fmlogger.render.png import encode_png

    images = [i for f in frames.values() for i in f.images]
    rows = []
    choices = [
        ("level 1, auto (used)", {}),
        ("level 1, Z_DEFAULT_STRATEGY", {"strategy": zlib.Z_DEFAULT_STRATEGY}),
        ("level 1, Z_RLE", {"strategy": zlib.Z_RLE}),
        ("level 6, Z_DEFAULT_STRATEGY (zlib's default)", {"level": 6, "strategy": zlib.Z_DEFAULT_STRATEGY}),
    ]
    for label, kwargs in choices:
        try:
            encode_png(images[0], **kwargs)
        except TypeError:
            continue
        t = interleaved({"e": lambda: [encode_png(i, **kwargs) for i in images]}, 5)["e"]
        size = sum(len(encode_png(i, **kwargs)) for i in images)
        rows.append([label, statistics.median(t) * 1e3, size / 1e3])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--models", default="demo,cnn128")
    parser.add_argument("--colormaps", default="gray,viridis")
    parser.add_argument("--no-timeline", action="store_true", help="also measure with timeline=False")
    args = parser.parse_args(argv)
    print(machine())
    rows, enc = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for which in args.models.split(","):
            if which == "demo":
                (xt, yt), _, probe = demo_data()
                model = demo_model()
                model.fit(xt, yt, epochs=1, batch_size=64, verbose=0)
            else:
                xt, yt = cnn128_data(64)
                model = cnn128_model()
                model.fit(xt, yt, epochs=1, batch_size=16, verbose=0)
                probe = xt[:8]
            timelines = (True, False) if args.no_timeline else (True,)
            for cmap, timeline in itertools.product(args.colormaps.split(","), timelines):
                m = measure(model, probe, colormap=cmap, repeats=args.repeats, tmp=tmp, timeline=timeline)
                label = cmap if timeline else f"{cmap}, timeline=False"
                rows.append(
                    [which, label, m["layers"], f"{m['pixels'] / 1e6:.1f}M"]
                    + [m[k] for k in ("forward", "stats", "normalize", "colormap", "tile", "encode",
                                      "write", "step", "floor")]
                    + [f"{m['step'] / m['floor']:.2f}x", m["stall"], f"{m['stall'] / m['forward']:.2f}x",
                       f"{m['bytes_per_step'] / 1e3:.0f}"]
                )
                enc.extend([which, cmap] + r for r in encoder_table(m["frames"]))
    header = ["model", "colormap", "layers", "px", "forward", "stats", "normalize", "colormap", "tile",
              "encode", "write", "step", "floor", "step/floor", "stall", "stall/forward", "kB/step"]
    print(
        "\nPer-stage ms (medians of %d interleaved rounds);"
        " targets: step/floor <= 1.3x, stall/forward <= 1.2x" % args.repeats
    )
    print(table(header, rows))
    print("\nPNG encoder choices on the same pixels (ms, kB)")
    print(table(["model", "colormap", "zlib", "ms", "kB"], enc))


if __name__ == "__main__":
    main()
