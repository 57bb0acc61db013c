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

Without TensorFlow (JAX and PyTorch processes: TensorFlow not imported), or when the run
folder's path holds ``*?[`` (``runs/exp[1]``: TensorBoard globs checkpoint paths and would not
find the bundles), tensors go to
``<run>/projector/tensor-<step>-<i>.tsv`` files named by ``tensor_path`` entries of the config
(with ``tensor_shape``), which TensorBoard's Projector reads with no TensorFlow either. The
difference: a running TensorBoard reads such entries when it starts, so entries added later
appear only after TensorBoard is restarted (the checkpoint bundles above appear live). Entries
of both kinds may share a run folder.

A remote run folder (``gs://``, ``s3://``, ``file://``, fsspec's ``memory://``) gets the same files:
every read, write, listing and removal goes through ``fmlogger._paths`` (TensorFlow's checkpoint
ops write bundles to TensorFlow's file systems themselves; without TensorFlow the TSV files go
through TensorBoard's file layer). Bundle data files are copied there, not hard-linked.

Example:
    >>> writer = ProjectorWriter("runs/exp1/feature_maps")                  # doctest: +SKIP
    >>> writer.write_sprite(x_embed)                                       # doctest: +SKIP
    >>> writer.add(5, {"conv3": pooled}, {"label": y, "predicted": p})     # doctest: +SKIP
"""

from __future__ import annotations

import glob
import io
import os
import sys
from typing import Mapping, Sequence

import numpy as np

from fmlogger import tags
from fmlogger._paths import copy, exists, is_remote, join, listdir, makedirs, read_bytes, remove, write_atomic
from fmlogger.render.png import encode_png
from fmlogger.render.sprite import images_to_uint8, make_sprite
from fmlogger.sinks.metadata import metadata_tsv

MAX_POINTS = 100_000
"""The most points TensorBoard's Projector loads."""

CONFIG_FILENAME = "projector_config.pbtxt"
CHECKPOINT_STATE = "checkpoint"
BUNDLE_PREFIX = "embeddings"
SPRITE_FILENAME = "sprite.png"


def _bundle_files(folder: str, name: str) -> list[str]:
    """The files of the bundle ``<folder>/<name>``: ``<name>.index`` and ``<name>.data-*``."""
    return [join(folder, n) for n in listdir(folder) if n == f"{name}.index" or n.startswith(f"{name}.data-")]


def _numbered(folder: str, head: str, tail: str) -> list[int]:
    """The ``<n>`` of files ``<head><n><tail>`` in ``folder`` (a listing: no glob on the folder's name)."""
    names = listdir(folder)
    cut = [n[len(head):len(n) - len(tail)] for n in names if n.startswith(head) and n.endswith(tail)]
    return sorted(int(n) for n in cut if n.isdigit())


def _step_of(name: str) -> int | None:
    tail = name.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _order(step: int | None) -> int:
    """Sort key of an entry's step: entries of no step (not fmlogger's) count as the oldest."""
    return -1 if step is None else step


def _tensorflow_loaded() -> bool:
    """Checkpoint bundles need TensorFlow; it is used only when this process already imported it."""
    return "tensorflow" in sys.modules


def _checkpoint_reader(prefix: str):
    """TensorFlow's reader of the bundle ``prefix``: what ``tf.train.load_checkpoint`` returns for a
    prefix, without its check whether the prefix is a folder (one request less on a bucket)."""
    from fmlogger._tf import tensorflow

    return tensorflow().compat.v1.train.NewCheckpointReader(prefix)


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
        keep_last: how many of the newest steps the config and bundle keep (0: every step);
            older steps' tensors, metadata TSVs and bundle shards are removed.

    Entries already in the folder's config and newest bundle (an earlier ``fit`` in the same
    ``log_dir``) are kept; logging a step again replaces that step's entries.
    """

    def __init__(self, run_dir: str, *, unit: str = "epoch", keep_bundles: int = 2, keep_last: int = 0):
        self.run_dir = os.fspath(run_dir)
        self.unit = unit
        self.keep_bundles = max(2, int(keep_bundles))
        self.keep_last = max(0, int(keep_last))
        self.sprite: tuple[str, tuple[int, int]] | None = None
        self._entries: dict[str, dict] = {}
        self._metadata_files: dict[str, str] = {}
        self._loaded = False

    @property
    def asset_dir(self) -> str:
        return join(self.run_dir, tags.PROJECTOR_SUBDIR)

    @property
    def config_path(self) -> str:
        return join(self.run_dir, CONFIG_FILENAME)

    def _bundles(self) -> bool:
        """Whether steps go into checkpoint bundles: TensorFlow is loaded and the run folder's path
        has no ``*?[``. TensorBoard's Projector globs checkpoint paths, so it never lists bundles
        under ``runs/exp[1]``; TSV ``tensor_path`` entries it reads (after a restart)."""
        where = self.run_dir if is_remote(self.run_dir) else os.path.abspath(self.run_dir)
        return _tensorflow_loaded() and not glob.has_magic(where)

    def latest_bundle(self) -> str | None:
        """The prefix of the newest bundle named by ``<run>/checkpoint``, or None."""
        data = read_bytes(join(self.run_dir, CHECKPOINT_STATE))
        for line in (data or b"").decode("utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model_checkpoint_path":
                prefix = join(self.run_dir, value.strip().strip('"'))
                return prefix if exists(prefix + ".index") else None
        return None

    def _load_existing(self) -> None:
        """Picks up entries of an earlier run in the same folder (config + newest bundle)."""
        self._loaded = True
        from google.protobuf import text_format
        from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

        data = read_bytes(self.config_path)
        if data is None:
            return
        prefix = self.latest_bundle() if self._bundles() else None
        try:
            names = set()
            if prefix is not None:
                names = set(_checkpoint_reader(prefix).get_variable_to_shape_map())
            config = ProjectorConfig()
            text_format.Parse(data.decode("utf-8"), config)
        except Exception:  # noqa: BLE001 - unreadable leftovers are replaced, not fatal
            return
        for embedding in sorted(config.embeddings, key=lambda e: _order(_step_of(e.tensor_name))):
            path = embedding.tensor_path
            if path and not exists(join(self.run_dir, path)):
                continue
            if path or embedding.tensor_name in names:
                self._entries[embedding.tensor_name] = {
                    "metadata_path": embedding.metadata_path,
                    "sprite": (embedding.sprite.image_path, tuple(embedding.sprite.single_image_dim)),
                    "tensor_path": path,
                    "shape": tuple(embedding.tensor_shape),
                    "step": _step_of(embedding.tensor_name),
                }

    def write_sprite(self, images: np.ndarray, *, data_format: str = "channels_last") -> bool:
        """Writes ``projector/sprite.png`` from the embedding inputs; False if they are not images."""
        pixels = images_to_uint8(images, data_format)
        if pixels is None:
            return False
        sprite, dim = make_sprite(pixels)
        makedirs(self.asset_dir)
        write_atomic(join(self.asset_dir, SPRITE_FILENAME), encode_png(sprite, level=6))
        self.sprite = (f"{tags.PROJECTOR_SUBDIR}/{SPRITE_FILENAME}", dim)
        return True

    def _metadata_path(self, columns: Mapping[str, Sequence] | None) -> str:
        if not columns:
            return ""
        text = metadata_tsv(columns)
        known = self._metadata_files.get(text)
        if known is None or not exists(join(self.run_dir, known)):
            index = max(_numbered(self.asset_dir, "metadata-", ".tsv"), default=-1) + 1
            write_atomic(join(self.asset_dir, f"metadata-{index}.tsv"), text.encode("utf-8"))
            self._metadata_files = {text: f"{tags.PROJECTOR_SUBDIR}/metadata-{index}.tsv"}
        return self._metadata_files[text]

    def _write_config(self) -> None:
        from google.protobuf import text_format
        from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

        config = ProjectorConfig()
        newest_first = sorted(self._entries.items(), key=lambda item: -_order(item[1]["step"]))  # stable
        for name, entry in newest_first:  # the Projector opens on the first entry: the newest step
            embedding = config.embeddings.add()
            embedding.tensor_name = name
            if entry.get("tensor_path"):
                embedding.tensor_path = entry["tensor_path"]
                embedding.tensor_shape.extend(entry["shape"])
            if entry["metadata_path"]:
                embedding.metadata_path = entry["metadata_path"]
            if entry["sprite"] and entry["sprite"][0]:
                embedding.sprite.image_path = entry["sprite"][0]
                embedding.sprite.single_image_dim.extend(entry["sprite"][1])
        write_atomic(self.config_path, text_format.MessageToString(config).encode("utf-8"))

    def add(
        self,
        step: int,
        tensors: Mapping[str, np.ndarray],
        metadata: Mapping[str, Sequence] | None = None,
    ) -> list[str]:
        """Adds one step: a ``[N, D]`` tensor per layer, sharing one metadata table.

        Order of writes: metadata and config first, then the new bundle, then ``checkpoint``
        (a running TensorBoard re-reads the config when that changes). Without TensorFlow: the
        TSV tensor files first, then the config.

        Args:
            step: the step (epoch) in the entry names.
            tensors: ``{layer path: [N, D] array}``; stored as float32.
            metadata: ``{column: N values}`` or None.

        Returns:
            The entry names written, e.g. ``["conv3 @ epoch 5"]``.
        """
        if not self._loaded:
            self._load_existing()
        if self._entries and not exists(self.config_path):  # the run folder was deleted
            self._entries.clear()
            self._metadata_files.clear()
        if self.sprite and not exists(join(self.run_dir, self.sprite[0])):
            self.sprite = None
        makedirs(self.asset_dir)
        metadata_path = self._metadata_path(metadata)
        arrays = {}
        for index, (layer, tensor) in enumerate(tensors.items()):
            array = np.ascontiguousarray(tensor, dtype=np.float32)
            if array.ndim != 2 or array.shape[0] > MAX_POINTS:
                raise ValueError(
                    f"embedding of '{layer}' must be [N <= {MAX_POINTS}, D]. Received shape {array.shape}"
                )
            name = tensor_name(layer, step, self.unit)
            arrays[name] = array
            entry = {"metadata_path": metadata_path, "sprite": self.sprite, "step": step}
            if not self._bundles():
                path = f"{tags.PROJECTOR_SUBDIR}/tensor-{step}-{index}.tsv"
                entry.update(tensor_path=path, shape=array.shape)
                text = io.BytesIO()
                np.savetxt(text, array, fmt="%.7g", delimiter="\t")
                write_atomic(join(self.run_dir, entry["tensor_path"]), text.getvalue())
            self._entries[name] = entry
        dropped = self._drop_old_steps()
        self._write_config()
        if not self._bundles():
            self._remove_unused_metadata()
            return list(arrays)
        from fmlogger._tf import tensorflow

        tf = tensorflow()

        previous = self.latest_bundle()
        number = self._next_number(step)
        target = join(self.asset_dir, f"{BUNDLE_PREFIX}-{number}")
        fresh = join(self.asset_dir, f"new-{number}")
        names = list(arrays)
        tf.raw_ops.SaveV2(prefix=fresh, tensor_names=names, shape_and_slices=[""] * len(names),
                          tensors=[arrays[n] for n in names])
        sources = [fresh]
        if previous is not None:
            reader = _checkpoint_reader(previous)
            old = reader.get_variable_to_shape_map()
            if set(old) & set(names) or dropped:  # a step logged again or dropped: rewrite the rest
                keep = [n for n in old if n not in arrays and n in self._entries]
                if keep:
                    kept = join(self.asset_dir, f"kept-{number}")
                    tf.raw_ops.SaveV2(
                        prefix=kept, tensor_names=keep, shape_and_slices=[""] * len(keep),
                        tensors=[reader.get_tensor(n) for n in keep],
                    )
                    sources.insert(0, kept)
            else:
                linked = join(self.asset_dir, f"prev-{number}")
                for path in _bundle_files(*os.path.split(previous)):
                    copy(path, linked + path[len(previous):])
                sources.insert(0, linked)
        tf.raw_ops.MergeV2Checkpoints(
            checkpoint_prefixes=[p for p in sources],
            destination_prefix=target,
            delete_old_dirs=False,
        )
        relative = f"{tags.PROJECTOR_SUBDIR}/{BUNDLE_PREFIX}-{number}"
        state = f'model_checkpoint_path: "{relative}"\nall_model_checkpoint_paths: "{relative}"\n'
        write_atomic(join(self.run_dir, CHECKPOINT_STATE), state.encode("utf-8"))
        self._prune(number)
        self._remove_unused_metadata()
        return names

    def _drop_old_steps(self) -> bool:
        """Forgets entries older than the ``keep_last`` newest steps (and their TSV tensors)."""
        steps = sorted({e["step"] for e in self._entries.values() if e.get("step") is not None})
        if not self.keep_last or len(steps) <= self.keep_last:
            return False
        kept = set(steps[-self.keep_last:])
        old = [n for n, e in self._entries.items() if e.get("step") is not None and e["step"] not in kept]
        for name in old:
            path = self._entries.pop(name).get("tensor_path")
            if path:
                remove(join(self.run_dir, path))
        return True

    def _remove_unused_metadata(self) -> None:
        """Removes ``metadata-<n>.tsv`` files that no entry of the config names any more."""
        used = {e["metadata_path"] for e in self._entries.values()}
        for index in _numbered(self.asset_dir, "metadata-", ".tsv"):
            if f"{tags.PROJECTOR_SUBDIR}/metadata-{index}.tsv" not in used:
                remove(join(self.asset_dir, f"metadata-{index}.tsv"))
        self._metadata_files = {t: p for t, p in self._metadata_files.items() if p in used}

    def _next_number(self, step: int) -> int:
        """Bundle numbers grow even when a step is logged again (the Projector needs a new path)."""
        existing = _numbered(self.asset_dir, f"{BUNDLE_PREFIX}-", ".index")
        return max([step] + [n + 1 for n in existing])

    def _prune(self, newest: int) -> None:
        numbers = _numbered(self.asset_dir, f"{BUNDLE_PREFIX}-", ".index")
        for number in numbers[: max(0, len(numbers) - self.keep_bundles)]:
            if number == newest:
                continue
            for path in _bundle_files(self.asset_dir, f"{BUNDLE_PREFIX}-{number}"):
                remove(path)

    def entries(self) -> list[str]:
        """The entry names, oldest first (the config file lists them newest first)."""
        return list(self._entries)
