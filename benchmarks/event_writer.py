"""Writing one logged step's event: fmlogger's writer against TensorFlow's and TensorBoard's own.

Arms (the same serialized ``Summary``: the demo's images and scalars of one step, PNGs encoded
once beforehand, so only the writing is timed), each writing ``--steps`` steps then flushing:

    fmlogger          ``SummaryWriter.write_step`` (TensorBoard's protos and record framing,
                      CRC-32C by google-crc32c, TensorBoard's file layer) -- what fmlogger uses;
    tf.summary        ``tf.summary.experimental.write_raw_pb`` into a ``create_file_writer``
                      writer -- what fmlogger used before (needs TensorFlow);
    EventFileWriter   TensorBoard's ``EventFileWriter.add_event`` (its CRC is a Python loop).

Usage:
    python benchmarks/event_writer.py [--repeats 7] [--steps 10]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time

import _common  # noqa: F401  (sets up sys.path and TF logging)
import numpy as np
from _common import demo_data, table


def _demo_step() -> tuple[list, list]:
    """The images (encoded) and scalars of one demo step at the defaults (conv1..3, probe of 8)."""
    from fmlogger import tags
    from fmlogger.render.png import encode_png
    from fmlogger.render.renderer import Renderer

    _, _, probe = demo_data()
    rng = np.random.default_rng(0)
    pngs, scalars, x = [], [], probe[:4]
    for name, channels in (("conv1", 16), ("conv2", 32), ("conv3", 64)):
        # a smooth stand-in for activations: the probe blurred into `channels` random mixtures
        maps = np.maximum(np.einsum("nhwc,cd->nhwd", x, rng.standard_normal((1, channels))), 0)
        frame = Renderer().render(name, maps.astype(np.float32))
        n, h, w = frame.images.shape[:3]
        pngs.append((tags.image_tag(name), w, h, [encode_png(i) for i in frame.images], frame.description))
        scalars += [(tags.stat_tag(name, s), frame.stats[s]) for s in tags.STAT_NAMES]
    return pngs, scalars


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    from fmlogger.sinks.events import SummaryWriter

    pngs, scalars = _demo_step()
    data = SummaryWriter("unused").serialize(pngs, scalars)
    tmp = tempfile.TemporaryDirectory()

    def fmlogger_arm():
        writer = SummaryWriter(tempfile.mkdtemp(dir=tmp.name))
        for step in range(args.steps):
            writer.write_step(step, pngs=pngs, scalars=scalars)
        writer.close()

    def event_file_writer_arm():
        writer = EventFileWriter(tempfile.mkdtemp(dir=tmp.name))
        for step in range(args.steps):
            event = event_pb2.Event(wall_time=time.time(), step=step)
            event.summary.ParseFromString(data)
            writer.add_event(event)
        writer.close()

    arms = {"fmlogger": fmlogger_arm, "EventFileWriter": event_file_writer_arm}
    if importlib.util.find_spec("tensorflow") is not None:
        import tensorflow as tf

        def tf_arm():
            writer = tf.summary.create_file_writer(tempfile.mkdtemp(dir=tmp.name))
            with writer.as_default():
                for step in range(args.steps):
                    tf.summary.experimental.write_raw_pb(tf.constant(data), step=step)
            writer.close()

        arms["tf.summary"] = tf_arm
    times = _common.interleaved(arms, args.repeats)
    print(_common.machine())
    print(f"\none step = {len(data) / 1e3:.0f} kB serialized; {args.steps} steps then close, "
          f"{args.repeats} interleaved rounds")
    print(table(["writer", "ms per step (median)", "ms per step (min)"], [
        [name, statistics.median(t) * 1e3 / args.steps, min(t) * 1e3 / args.steps]
        for name, t in times.items()
    ]))
    tmp.cleanup()


if __name__ == "__main__":
    main()
