"""Files for TensorBoard's Projector: embedding tensors per step, metadata.tsv, sprite, config.

Layout inside the run folder that already holds fmlogger's event file (the Projector lists only
folders with one)::

    <run>/projector_config.pbtxt          one entry per layer per logged step: "conv3 @ epoch 5"
    <run>/checkpoint                      names the newest bundle below (TensorBoard reads only it)
    <run>/projector/embeddings-<step>.*   a TF checkpoint bundle holding *every* logged tensor
    <run>/projector/metadata-<n>.tsv      label / predicted / correct (a new file only on change)
    <run>/projector/sprite.png            input thumbnails, at most 8192 x 8192 px

Why this shape (measured with TensorBoard 2.21): the Projector re-reads the config only when the
run list or the latest checkpoint path changes, and loads tensors from the newest checkpoint
only. So each step writes the config first, then a new bundle under a new number that holds all
steps' tensors (the previous bundle's data files are hard-linked into it, not copied), then
points ``checkpoint`` at it: a running TensorBoard lists the new entries without a restart (the
page itself needs a reload). All paths in the config are relative and inside the run folder,
which TensorBoard 2.21 requires.

Example:
    >>> writer = ProjectorWriter("runs/exp1/feature_maps")                  # doctest: +SKIP
    >>> writer.write_sprite(x_embed)                                       # doctest: +SKIP
    >>> writer.add(5, {"conv3": pooled}, {"label": y, "predicted": p})     # doctest: +SKIP
"""

from __future__ import annotations

import glob
import os
import shutil
from typing import Mapping, Sequence

import numpy as np

from fmlogger import tags
from fmlogger.render.png import encode_png

MAX_POINTS = 100_000
"""The most points TensorBoard's Projector loads."""

MAX_SPRITE_PX = 8192
"""The largest sprite side (pixels) the Projector accepts."""

MAX_THUMBNAIL_PX = 64
POOLING = ("avg", "max", "flatten")

CONFIG_FILENAME = "projector_config.pbtxt"
CHECKPOINT_STATE = "checkpoint"
BUNDLE_PREFIX = "embeddings"
SPRITE_FILENAME = "sprite.png"


# ----------------------------------------------------------------------------- pooling


def pool(activations: np.ndarray, mode: str = "avg", data_format: str = "channels_last") -> np.ndarray:
    """One vector per sample: ``[n, ...]`` activations -> float32 ``[n, d]``.

    ``"avg"``/``"max"`` reduce over the spatial (or time) axes and keep the channels: ``[n, h, w,
    c]`` -> ``[n, c]`` (``channels_first``: ``[n, c, h, w]`` -> ``[n, c]``), ``[n, t, c]`` ->
    ``[n, c]``. ``"flatten"`` keeps everything: ``[n, h * w * c]``. ``[n, d]`` outputs are taken as
    they are with any mode.

    Example:
        >>> pool(np.ones((2, 3, 3, 4)), "avg").shape
        (2, 4)
    """
    if mode not in POOLING:
        raise ValueError(f"embedding_pooling must be one of {POOLING}. Received: embedding_pooling={mode!r}")
    a = np.asarray(activations, dtype=np.float32)
    if a.ndim < 2:
        raise ValueError(f"an embedding layer needs outputs of rank >= 2 ([n, ...]). Received shape {a.shape}")
    if a.ndim == 2:
        return a
    if mode == "flatten":
        return a.reshape(a.shape[0], -1)
    axes = tuple(range(2, a.ndim)) if data_format == "channels_first" else tuple(range(1, a.ndim - 1))
    return a.mean(axis=axes, dtype=np.float32) if mode == "avg" else a.max(axis=axes)


# ----------------------------------------------------------------------------- metadata


def escape_label(value) -> str:
    """One metadata cell: tabs, newlines and carriage returns written as ``\\t``, ``\\n``, ``\\r``.

    A blank cell becomes ``(blank)``: the Projector skips blank lines, which would shift every
    later row of a one-column file.

    Example:
        >>> escape_label("a\\tb\\nc")
        'a\\\\tb\\\\nc'
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value.item() if isinstance(value, np.generic) else value)
    text = text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text if text.strip() else "(blank)"


def metadata_tsv(columns: Mapping[str, Sequence]) -> str:
    """The text of a ``metadata.tsv``: a header row exactly when there is more than one column.

    Args:
        columns: ``{column name: values}``, all of the same length, in column order.

    Example:
        >>> metadata_tsv({"label": [3, 7]})
        '3\\n7\\n'
        >>> metadata_tsv({"label": [3, 7], "predicted": [3, 1]})
        'label\\tpredicted\\n3\\t3\\n7\\t1\\n'
    """
    names = list(columns)
    if not names:
        raise ValueError("metadata needs at least one column.")
    lengths = {len(columns[name]) for name in names}
    if len(lengths) != 1:
        raise ValueError(f"metadata columns must have the same length. Received lengths {sorted(lengths)}")
    cells = [[escape_label(v) for v in columns[name]] for name in names]
    lines = ["\t".join(row) for row in zip(*cells)]
    if len(names) > 1:
        lines.insert(0, "\t".join(escape_label(name) for name in names))
    return "".join(line + "\n" for line in lines)


# ----------------------------------------------------------------------------- sprite


def sprite_layout(n: int, height: int, width: int, *, max_px: int = MAX_SPRITE_PX,
                  max_thumbnail: int = MAX_THUMBNAIL_PX) -> tuple[int, int, int]:
    """Thumbnail size and grid for ``n`` images of ``height x width`` within ``max_px`` per side.

    The grid is ``cols = ceil(sqrt(n))`` square (the Projector's layout); thumbnails keep the
    aspect ratio, with their longer side at most ``max_thumbnail`` and ``cols`` of them fitting
    in ``max_px``.

    Returns:
        ``(thumb_height, thumb_width, cols)``.

    Example:
        >>> sprite_layout(100_000, 32, 32)   # 317 columns: 25 px thumbnails, 7925 px sprite
        (25, 25, 317)
    """
    cols = max(1, int(np.ceil(np.sqrt(n))))
    longest = min(max(height, width), max_thumbnail, max_px // cols)
    if longest < 1:
        raise ValueError(f"{n} thumbnails cannot fit in a {max_px} x {max_px} sprite.")
    scale = longest / max(height, width)
    return max(1, int(round(height * scale))), max(1, int(round(width * scale))), cols


def to_uint8_images(x: np.ndarray, data_format: str = "channels_last") -> np.ndarray | None:
    """Inputs -> uint8 ``[n, h, w, c]`` (c in 1, 3, 4) scaled from the set's min..max, or None if not images.

    ``[n, h, w]`` counts as gray images; ``channels_first`` inputs are transposed.
    """
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        return None
    if data_format == "channels_first":
        x = x.transpose(0, 2, 3, 1)
    if x.shape[-1] == 2 or x.shape[-1] > 4 or min(x.shape[1:3]) < 2:
        return None
    if x.dtype == np.uint8:
        return x
    x = x.astype(np.float32)
    finite = np.isfinite(x)
    lo = float(x[finite].min()) if finite.any() else 0.0
    hi = float(x[finite].max()) if finite.any() else 1.0
    unit = np.where(finite, (x - lo) / (hi - lo if hi > lo else 1.0), 0.0)
    return np.floor(unit * 255 + 0.5).astype(np.uint8)


def resize(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resizes uint8 ``[n, h, w, c]`` by box-averaging integer blocks, then nearest neighbour."""
    n, h, w, c = images.shape
    fy, fx = max(1, h // height), max(1, w // width)
    if fy > 1 or fx > 1:
        hh, ww = (h // fy) * fy, (w // fx) * fx
        blocks = images[:, :hh, :ww].reshape(n, hh // fy, fy, ww // fx, fx, c).astype(np.float32)
        images = np.floor(blocks.mean(axis=(2, 4)) + 0.5).astype(np.uint8)
        n, h, w, c = images.shape
    rows = np.minimum((np.arange(height) + 0.5) * h / height, h - 1).astype(np.int64)
    cols = np.minimum((np.arange(width) + 0.5) * w / width, w - 1).astype(np.int64)
    return images[:, rows][:, :, cols]


def make_sprite(images: np.ndarray, *, max_px: int = MAX_SPRITE_PX,
                max_thumbnail: int = MAX_THUMBNAIL_PX) -> tuple[np.ndarray, tuple[int, int]]:
    """Tiles uint8 images ``[n, h, w, c]`` row by row into one sprite within ``max_px`` x ``max_px``.

    Returns:
        ``(sprite, (thumb_width, thumb_height))``: uint8 ``[rows * th, cols * tw, c]`` and the
        thumbnail size in the Projector's ``single_image_dim`` order (width, height).

    Example:
        >>> sprite, dim = make_sprite(np.zeros((10, 8, 8, 1), np.uint8))
        >>> sprite.shape, dim
        ((24, 32, 1), (8, 8))
    """
    n, h, w, c = images.shape
    th, tw, cols = sprite_layout(n, h, w, max_px=max_px, max_thumbnail=max_thumbnail)
    rows = int(np.ceil(n / cols))
    thumbs = resize(images, th, tw)
    grid = np.zeros((rows * cols, th, tw, c), np.uint8)
    grid[:n] = thumbs
    sprite = grid.reshape(rows, cols, th, tw, c).transpose(0, 2, 1, 3, 4).reshape(rows * th, cols * tw, c)
    return sprite, (tw, th)


# ----------------------------------------------------------------------------- writer


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _bundle_files(prefix: str) -> list[str]:
    return sorted(glob.glob(glob.escape(prefix) + ".index") + glob.glob(glob.escape(prefix) + ".data-*"))


def tensor_name(layer: str, step: int, unit: str = "epoch") -> str:
    """The Projector's name for a layer at a step: ``"conv3 @ epoch 5"``."""
    return f"{layer} @ {unit} {step}"


class ProjectorWriter:
    """Keeps the Projector files of one run folder up to date, step after step.

    Args:
        run_dir: the run folder (it must hold, or come to hold, an event file).
        unit: the word in entry names: ``"<layer> @ <unit> <step>"``.
        keep_bundles: how many of the newest bundles stay on disk (>= 2, so a TensorBoard reading
            the previous one while a new one is written is not cut off).

    Entries already in the folder's config and newest bundle (an earlier ``fit`` in the same
    ``log_dir``) are kept; logging a step again replaces that step's entries.
    """

    def __init__(self, run_dir: str, *, unit: str = "epoch", keep_bundles: int = 2):
        self.run_dir = os.fspath(run_dir)
        self.unit = unit
        self.keep_bundles = max(2, int(keep_bundles))
        self.sprite: tuple[str, tuple[int, int]] | None = None
        self._entries: dict[str, dict] = {}
        self._metadata_files: dict[str, str] = {}
        self._loaded = False

    @property
    def asset_dir(self) -> str:
        return os.path.join(self.run_dir, tags.PROJECTOR_SUBDIR)

    @property
    def config_path(self) -> str:
        return os.path.join(self.run_dir, CONFIG_FILENAME)

    def latest_bundle(self) -> str | None:
        """The prefix of the newest bundle named by ``<run>/checkpoint``, or None."""
        state = os.path.join(self.run_dir, CHECKPOINT_STATE)
        if not os.path.exists(state):
            return None
        with open(state, encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model_checkpoint_path":
                    prefix = os.path.join(self.run_dir, value.strip().strip('"'))
                    return prefix if os.path.exists(prefix + ".index") else None
        return None

    def _load_existing(self) -> None:
        """Picks up entries of an earlier run in the same folder (config + newest bundle)."""
        self._loaded = True
        from google.protobuf import text_format
        from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

        prefix = self.latest_bundle()
        if prefix is None or not os.path.exists(self.config_path):
            return
        from fmlogger._tf import tensorflow

        try:
            names = set(tensorflow().train.load_checkpoint(prefix).get_variable_to_shape_map())
            config = ProjectorConfig()
            with open(self.config_path, encoding="utf-8") as f:
                text_format.Parse(f.read(), config)
        except Exception:  # noqa: BLE001 - unreadable leftovers are replaced, not fatal
            return
        for embedding in config.embeddings:
            if embedding.tensor_name in names:
                self._entries[embedding.tensor_name] = {
                    "metadata_path": embedding.metadata_path,
                    "sprite": (embedding.sprite.image_path, tuple(embedding.sprite.single_image_dim)),
                }

    def write_sprite(self, images: np.ndarray, *, data_format: str = "channels_last") -> bool:
        """Writes ``projector/sprite.png`` from the embedding inputs; False if they are not images."""
        pixels = to_uint8_images(images, data_format)
        if pixels is None:
            return False
        sprite, dim = make_sprite(pixels)
        os.makedirs(self.asset_dir, exist_ok=True)
        _write_atomic(os.path.join(self.asset_dir, SPRITE_FILENAME), encode_png(sprite, level=6))
        self.sprite = (f"{tags.PROJECTOR_SUBDIR}/{SPRITE_FILENAME}", dim)
        return True

    def _metadata_path(self, columns: Mapping[str, Sequence] | None) -> str:
        if not columns:
            return ""
        text = metadata_tsv(columns)
        if text not in self._metadata_files:
            index = len(glob.glob(os.path.join(self.asset_dir, "metadata-*.tsv")))
            while os.path.exists(os.path.join(self.asset_dir, f"metadata-{index}.tsv")):
                index += 1
            _write_atomic(os.path.join(self.asset_dir, f"metadata-{index}.tsv"), text.encode("utf-8"))
            self._metadata_files = {text: f"{tags.PROJECTOR_SUBDIR}/metadata-{index}.tsv"}
        return self._metadata_files[text]

    def _write_config(self) -> None:
        from google.protobuf import text_format
        from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

        config = ProjectorConfig()
        for name, entry in self._entries.items():
            embedding = config.embeddings.add()
            embedding.tensor_name = name
            if entry["metadata_path"]:
                embedding.metadata_path = entry["metadata_path"]
            if entry["sprite"] and entry["sprite"][0]:
                embedding.sprite.image_path = entry["sprite"][0]
                embedding.sprite.single_image_dim.extend(entry["sprite"][1])
        _write_atomic(self.config_path, text_format.MessageToString(config).encode("utf-8"))

    def add(
        self,
        step: int,
        tensors: Mapping[str, np.ndarray],
        metadata: Mapping[str, Sequence] | None = None,
    ) -> list[str]:
        """Adds one step: a ``[N, D]`` tensor per layer, sharing one metadata table.

        Order of writes: metadata and config first, then the new bundle, then ``checkpoint``
        (a running TensorBoard re-reads the config when that changes).

        Args:
            step: the step (epoch) in the entry names.
            tensors: ``{layer path: [N, D] array}``; stored as float32.
            metadata: ``{column: N values}`` or None.

        Returns:
            The entry names written, e.g. ``["conv3 @ epoch 5"]``.
        """
        from fmlogger._tf import tensorflow

        tf = tensorflow()
        if not self._loaded:
            self._load_existing()
        os.makedirs(self.asset_dir, exist_ok=True)
        metadata_path = self._metadata_path(metadata)
        arrays = {}
        for layer, tensor in tensors.items():
            array = np.ascontiguousarray(tensor, dtype=np.float32)
            if array.ndim != 2 or array.shape[0] > MAX_POINTS:
                raise ValueError(f"embedding of '{layer}' must be [N <= {MAX_POINTS}, D]. Received shape {array.shape}")
            name = tensor_name(layer, step, self.unit)
            arrays[name] = array
            self._entries[name] = {"metadata_path": metadata_path, "sprite": self.sprite}
        self._write_config()

        previous = self.latest_bundle()
        number = self._next_number(step)
        target = os.path.join(self.asset_dir, f"{BUNDLE_PREFIX}-{number}")
        fresh = os.path.join(self.asset_dir, f"new-{number}")
        names = list(arrays)
        tf.raw_ops.SaveV2(prefix=fresh, tensor_names=names, shape_and_slices=[""] * len(names),
                          tensors=[arrays[n] for n in names])
        sources = [fresh]
        if previous is not None:
            old = tf.train.load_checkpoint(previous).get_variable_to_shape_map()
            if set(old) & set(names):  # a step logged again: rewrite without the replaced tensors
                reader = tf.train.load_checkpoint(previous)
                keep = [n for n in old if n not in arrays]
                if keep:
                    kept = os.path.join(self.asset_dir, f"kept-{number}")
                    tf.raw_ops.SaveV2(prefix=kept, tensor_names=keep, shape_and_slices=[""] * len(keep),
                                      tensors=[reader.get_tensor(n) for n in keep])
                    sources.insert(0, kept)
            else:
                linked = os.path.join(self.asset_dir, f"prev-{number}")
                for path in _bundle_files(previous):
                    _link_or_copy(path, linked + path[len(previous):])
                sources.insert(0, linked)
        tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=sources, destination_prefix=target, delete_old_dirs=False)
        relative = os.path.relpath(target, self.run_dir).replace(os.sep, "/")
        state = f'model_checkpoint_path: "{relative}"\nall_model_checkpoint_paths: "{relative}"\n'
        _write_atomic(os.path.join(self.run_dir, CHECKPOINT_STATE), state.encode("utf-8"))
        self._prune(number)
        return names

    def _next_number(self, step: int) -> int:
        """Bundle numbers grow even when a step is logged again (the Projector needs a new path)."""
        existing = [
            int(p.rsplit("-", 1)[1].split(".")[0])
            for p in glob.glob(os.path.join(self.asset_dir, f"{BUNDLE_PREFIX}-*.index"))
            if p.rsplit("-", 1)[1].split(".")[0].isdigit()
        ]
        return max([step] + [n + 1 for n in existing])

    def _prune(self, newest: int) -> None:
        numbers = sorted(
            {
                int(p.rsplit("-", 1)[1].split(".")[0])
                for p in glob.glob(os.path.join(self.asset_dir, f"{BUNDLE_PREFIX}-*.index"))
                if p.rsplit("-", 1)[1].split(".")[0].isdigit()
            }
        )
        for number in numbers[: max(0, len(numbers) - self.keep_bundles)]:
            if number == newest:
                continue
            for path in _bundle_files(os.path.join(self.asset_dir, f"{BUNDLE_PREFIX}-{number}")):
                os.remove(path)

    def entries(self) -> list[str]:
        """The entry names in the config, in order."""
        return list(self._entries)
