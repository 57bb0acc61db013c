"""Measures the embedding path's costs (medians; run side by side in one process).

    python benchmarks/embeddings.py

1. one logging step on the demo model: feature maps alone, + PCA RGB; log_embeddings (360 points
   of conv3) and its parts;
2. numpy's eigh of a 64 x 64 scatter matrix right after a TensorFlow call, with the BLAS thread
   pool as it is vs limited to one thread (what fmlogger.render.pca does);
3. ProjectorWriter.add per epoch for 100,000 x 64 points over 20 epochs: previous bundle
   hard-linked (what it does) vs copied.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def median_ms(f, k=9):
    times = []
    for i in range(k):
        start = time.perf_counter()
        f(i)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def main():
    from fmlogger.cli.demo import build_demo_model, load_digits_32
    from fmlogger.logger import FeatureMapLogger
    from fmlogger.render import pca as pca_module
    from fmlogger.sinks import projector

    x, y = load_digits_32()
    model = build_demo_model()
    root = tempfile.mkdtemp()
    plain = FeatureMapLogger(os.path.join(root, "a"), ["conv1", "conv2", "conv3"])
    full = FeatureMapLogger(os.path.join(root, "b"), ["conv1", "conv2", "conv3"], pca_rgb=True,
                            embeddings=["conv3"], embedding_data=(x[:360], y[:360]))
    plain.log(model, x[:4], 0), full.log(model, x[:4], 0), full.log_embeddings(model, 0)
    view = full.embeddings  # the EmbeddingsView: compute (forward pass + pooling), then produce
    embedded = view.compute(model)
    emb, columns = embedded.tensors, view.metadata(embedded.output)
    writer = projector.ProjectorWriter(os.path.join(root, "c"))
    names, codes = [str(c) for c in range(10)], y[:360]
    print("1. demo model, probe of 4, layers conv1..3; embeddings: conv3 over 360 digits")
    print(f"   log(), feature maps only        {median_ms(lambda i: plain.log(model, x[:4], i + 1)):7.1f} ms")
    print(f"   log(), + pca_rgb                {median_ms(lambda i: full.log(model, x[:4], i + 1)):7.1f} ms")
    embed_ms = median_ms(lambda i: full.log_embeddings(model, i + 1))
    print(f"   log_embeddings()                {embed_ms:7.1f} ms")
    print(f"     forward pass + pooling        {median_ms(lambda i: view.compute(model)):7.1f} ms")
    files_ms = median_ms(lambda i: writer.add(100 + i, emb, columns))
    print(f"     Projector files               {files_ms:7.1f} ms")
    pca_ms = median_ms(lambda i: view._pca_image("conv3", emb["conv3"], i, codes, names, "label"))
    print(f"     aligned PCA scatter           {pca_ms:7.1f} ms")

    from fmlogger.capture.traced import Capture

    capture = Capture(model, ["conv3"], x[:4])
    rows = capture(x[:4])["conv3"].reshape(-1, 64).astype(np.float64)
    gram = rows.T @ rows
    limited = pca_module.single_threaded_blas

    def eigh_default(i):
        capture(x[:4])
        np.linalg.eigh(gram)

    def eigh_one_thread(i):
        capture(x[:4])
        with limited():
            np.linalg.eigh(gram)

    print("2. TF forward pass, then eigh(64 x 64), alternating 5 rounds")
    for _ in range(5):
        print(
            f"   default BLAS threads {median_ms(eigh_default):7.2f} ms"
            f"   one thread {median_ms(eigh_one_thread):7.2f} ms"
        )

    print("3. ProjectorWriter.add, 100,000 x 64 float32 per epoch, 20 epochs")
    tensor = np.random.default_rng(0).random((100_000, 64)).astype(np.float32)
    original = projector._link_or_copy
    for mode in ("hard link", "copy"):
        projector._link_or_copy = original if mode == "hard link" else shutil.copyfile
        folder = tempfile.mkdtemp()
        writer = projector.ProjectorWriter(folder)
        writer.add(0, {"conv3": tensor})
        times = []
        for step in range(1, 20):
            start = time.perf_counter()
            writer.add(step, {"conv3": tensor})
            times.append(time.perf_counter() - start)
        print(
            f"   {mode:9s}: epochs 2-5 {np.median(times[:4]) * 1e3:6.0f} ms,"
            f" epochs 16-20 {np.median(times[-5:]) * 1e3:6.0f} ms"
        )
        shutil.rmtree(folder)
    projector._link_or_copy = original
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
