"""FeatureMapCallback: a schedule around ``FeatureMapLogger`` for ``model.fit``.

Example:
    >>> import numpy as np, tempfile
    >>> probe = np.random.default_rng(0).random((16, 28, 28, 1), dtype=np.float32)
    >>> cb = FeatureMapCallback(tempfile.mkdtemp(), probe, ["conv*"], max_samples=8, colormap="viridis")
    >>> cb.probe.x.shape, cb.logger.settings.colormap
    ((8, 28, 28, 1), 'viridis')
    >>> model.fit(x, y, epochs=10, callbacks=[cb])                       # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
from typing import Callable

import keras

from fmlogger._checks import check_int
from fmlogger.capture.probe import make_probe
from fmlogger.logger import FeatureMapLogger

log = logging.getLogger("fmlogger")


def is_chief() -> bool:
    """False on the processes that must not write: the non-chief workers of a multi-worker
    ``tf.distribute`` job (read from TF_CONFIG), and on JAX every process but ``jax.process_index()
    == 0`` (``jax.distributed``; a single process is index 0). Call it once the backend is in use
    (JAX: after ``jax.distributed.initialize``, which must come before any JAX computation).

    Example:
        >>> is_chief()  # one process, no TF_CONFIG
        True
    """
    if keras.backend.backend() == "jax":
        import jax

        if jax.process_index() != 0:
            return False
    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    except ValueError:
        return True
    task = config.get("task") or {}
    kind, index = task.get("type"), int(task.get("index", 0) or 0)
    if kind in (None, "chief"):
        return True
    if kind == "worker":
        return "chief" not in (config.get("cluster") or {}) and index == 0
    return False


class FeatureMapCallback(keras.callbacks.Callback):
    """Logs feature maps of chosen layers on a fixed probe batch while ``fit`` trains.

    Steps: 0 is the untrained model (logged when training starts from epoch 0), ``k`` is the
    model after ``k`` epochs, so ``fit(initial_epoch=k)`` continues the numbering. The last
    epoch is always logged. With ``every_n_batches``, steps count training batches instead, and
    the last batch is always logged (13 batches, n=5: steps 0, 5, 10, 13). When
    ``on_epoch_end`` returns, what the epoch logged is written and flushed (the background
    writer is waited for), so a process killed then (kill -9, an out-of-memory kill) keeps it.
    Only one process logs: the chief under ``tf.distribute``, process 0 under ``jax.distributed``
    (``is_chief``); the others write nothing and run no capture. Under one process with several
    devices (``MirroredStrategy``, Keras' ``DataParallel`` on JAX) each step is logged once.

    Resuming (``resume=True``, the default): steps already in the run folder when ``fit`` starts
    are not written again (a job killed after logging epoch k but before its checkpoint trains
    epoch k again; the first such step is named in one warning), and a ``fit`` resumed at
    ``initial_epoch=k`` logs step k first if no earlier run wrote it (killed after its checkpoint,
    before the step was on disk). ``resume=False`` writes every step, as for a new run.

    Args:
        log_dir: the TensorBoard log folder; images go to ``<log_dir>/feature_maps``.
        probe: an array/tensor batch, ``(x, y)``, a list/dict for multi-input models, or a
            ``tf.data.Dataset``; its first ``max_samples`` samples are taken once and kept.
        layers: names, paths, glob patterns or layer classes (see ``FeatureMapLogger``); None
            picks every layer with a 4-D output.
        every_n_epochs: log after every n-th epoch.
        every_n_batches: if set, log every n training batches instead (steps count batches), and
            after the last one.
        max_samples: probe samples kept (and images per layer and step).
        probe_seed: when ``probe`` holds more than ``max_samples`` samples, draw them with this
            seed (None: take the first ones). Recorded with the probe's fingerprint in the run.
        submodel: log a model held by the one ``fit`` trains instead of that model itself (a GAN
            whose ``train_step`` trains ``self.generator`` and has no ``call``): an attribute
            name (``"generator"``) or a callable taking the fit model and returning a Keras
            model. The probe is then that model's input (latent vectors for a generator).
        embeddings_every_n_epochs: with ``embeddings=`` among the logger options, write
            embeddings (Projector + ``embedding_pca/``) after every n-th epoch, at step 0
            (untrained) and after the last epoch; steps count epochs.
        **logger_options: any other ``FeatureMapLogger`` option, passed on unchanged: the groups
            ``render=``, ``timeline=``, ``embeddings=``, ``explain=`` or their flat shortcuts
            (``colormap``, ``max_channels``, ``timeline_max_rows``, ...), ``saliency``,
            ``gradcam``, ``activation_max``, ``pca_rgb``, ``on_error``, ...; the probe's labels
            (``probe=(x, y)``) are the saliency targets by default.

    Raises:
        ValueError: for a bad option or probe, before training starts; for an unknown layer
            when training starts (the message lists the layers), or a ``submodel`` that the
            model does not have or that is not a Keras model.
    """

    def __init__(
        self,
        log_dir,
        probe,
        layers=None,
        *,
        every_n_epochs: int = 1,
        every_n_batches: int | None = None,
        max_samples: int = 4,
        probe_seed: int | None = None,
        submodel: str | Callable | None = None,
        embeddings_every_n_epochs: int = 1,
        **logger_options,
    ):
        super().__init__()
        named = isinstance(submodel, str) and submodel.isidentifier()
        if not (submodel is None or callable(submodel) or named):
            raise ValueError(
                "submodel must be None, an attribute name of the fit model ('generator') or a callable "
                f"taking the fit model and returning a Keras model. Received: submodel={submodel!r}"
            )
        self.submodel = submodel
        self._target = None
        check_int("every_n_epochs", every_n_epochs, 1)
        check_int("every_n_batches", every_n_batches, 1, allow_none=True)
        check_int("embeddings_every_n_epochs", embeddings_every_n_epochs, 1)
        self.logger = FeatureMapLogger(log_dir, layers, max_samples=max_samples, **logger_options)
        self.probe = make_probe("probe", probe, max_samples, seed=probe_seed)
        self.logger.record_probe(self.probe, source=self.probe.x)
        self.every_n_epochs = every_n_epochs
        self.every_n_batches = every_n_batches
        self.embeddings_every_n_epochs = embeddings_every_n_epochs
        self._chief = True  # decided when training starts (is_chief): by then JAX is initialized
        self._resume = logger_options.get("resume", True)
        self._batch_step = 0
        self._logged_steps: list[int] = []
        self._on_disk: set[int] = set()
        self._skipped: list[int] = []
        self._first_epoch = True
        self._disk_known = True
        self._embedding_steps: list[int] = []

    @property
    def target(self):
        """The model logged: the fit model, or its ``submodel`` (resolved when training starts)."""
        return self.model if self._target is None else self._target

    def _resolve_submodel(self):
        if self.submodel is None:
            return None
        name = self.submodel
        if not isinstance(name, str):
            name = getattr(name, "__name__", "callable")
        if isinstance(self.submodel, str):
            if not hasattr(self.model, self.submodel):
                public = sorted(a for a, v in vars(self.model).items() if isinstance(v, keras.Model))
                raise ValueError(
                    f"submodel={self.submodel!r}: model '{self.model.name}' has no attribute "
                    f"{self.submodel!r}. Its Keras model attributes: {', '.join(public) or 'none'}."
                )
            found = getattr(self.model, self.submodel)
        else:
            found = self.submodel(self.model)
        if not isinstance(found, keras.Model):
            raise ValueError(
                f"submodel={name!r} of model '{self.model.name}' is a {type(found).__name__}, not a "
                "Keras model; name an attribute holding one (a keras.Model) or pass a callable returning one."
            )
        return found

    @property
    def logged_steps(self) -> list[int]:
        """The steps written so far by this callback, in order."""
        return list(self._logged_steps)

    def _log(self, step: int) -> None:
        if not self._chief:
            return
        if step in self._on_disk:
            self._skip_written(step)
            return
        try:
            self.logger.log(self.target, self.probe.x, step, labels=self.probe.y)
        except Exception as err:  # noqa: BLE001 - the error policy decides
            self.logger.errors.report(f"logging step {step}", err)
            return
        self._logged_steps.append(step)

    @property
    def embedding_steps(self) -> list[int]:
        """The epochs whose embeddings were written so far, in order."""
        return list(self._embedding_steps)

    def _log_embeddings(self, step: int) -> None:
        if not self._chief or self.logger.embeddings is None or step in self._embedding_steps:
            return
        try:
            if self.logger.log_embeddings(self.target, step):
                self._embedding_steps.append(step)
        except Exception as err:  # noqa: BLE001 - the error policy decides
            self.logger.errors.report(f"logging embeddings at epoch {step}", err)

    def _read_written_steps(self) -> None:
        """With ``resume``: the steps already in the run folder (a run killed and restarted), which
        are not written again. A remote folder is not read back (``fmlogger.runs`` reads local
        files): a fit resumed there at ``initial_epoch=k`` starts logging at step k + 1, as its
        earlier run logged step k."""
        from fmlogger import tags
        from fmlogger._paths import is_remote
        from fmlogger.runs.events import steps_with_images

        run_dir = self.logger.run_dir
        found = self._resume and not is_remote(run_dir) and os.path.isdir(run_dir)
        self._on_disk = steps_with_images(run_dir, tags.IMAGE_PREFIX) if found else set()
        self._skipped = []
        self._disk_known = not (self._resume and is_remote(run_dir))

    def _skip_written(self, step: int) -> None:
        self._skipped.append(step)
        if len(self._skipped) == 1:
            log.warning(
                "fmlogger: step %d is already in %s (written before this fit started); it is not written "
                "again, so a resumed training continues its run without repeating steps. To log a new "
                "run here, pass resume=False or another log_dir/run_name.",
                step, self.logger.run_dir,
            )

    def on_train_begin(self, logs=None):
        # Resolve layers and trace the passes of every view now (embeddings included), so a wrong
        # layer name fails before epoch 1. The other processes of a distributed job do nothing.
        self._chief = is_chief()
        if not self._chief:
            return
        self.logger.check_writable()
        self._read_written_steps()
        self._first_epoch = True
        self._target = self._resolve_submodel()
        self.logger.capture_for(self.target, self.probe.x)
        from fmlogger.cli.board import board_hint

        board_hint(self.logger.log_dir, self.params, self.every_n_epochs, self.every_n_batches)
        if self.every_n_batches:
            optimizer = getattr(self.model, "optimizer", None)
            self._batch_step = int(optimizer.iterations.numpy()) if optimizer is not None else 0
            if self._batch_step == 0:
                self._log(0)

    def on_epoch_begin(self, epoch, logs=None):
        first, self._first_epoch = self._first_epoch, False
        # Step 0 is the untrained model. A fit resumed at epoch k (its weights restored) logs step k
        # when no earlier run wrote it (killed after its checkpoint, before its step was durable).
        due = epoch == 0 or (first and self._disk_known and epoch % self.every_n_epochs == 0)
        if due and not self.every_n_batches and epoch not in {*self._logged_steps, *self._on_disk}:
            self._log(epoch)
        if epoch == 0:
            self._log_embeddings(0)

    def on_train_batch_end(self, batch, logs=None):
        if self.every_n_batches:
            self._batch_step += 1
            if self._batch_step % self.every_n_batches == 0:
                self._log(self._batch_step)

    def on_epoch_end(self, epoch, logs=None):
        step = epoch + 1
        last = step == (self.params or {}).get("epochs")
        if step % self.embeddings_every_n_epochs == 0 or last:
            self._log_embeddings(step)
        if not self.every_n_batches and (step % self.every_n_epochs == 0 or last):
            self._log(step)
        self._make_durable(epoch)

    def _make_durable(self, epoch: int) -> None:
        """Waits for the writer and flushes, so what this epoch logged survives a kill -9 right after."""
        if not self._chief:
            return
        try:
            self.logger.flush()
        except Exception as err:  # noqa: BLE001 - the error policy decides
            self.logger.errors.report(f"flushing after epoch {epoch + 1}", err)

    def on_train_end(self, logs=None):
        if self.every_n_batches and self._batch_step not in self._logged_steps:
            self._log(self._batch_step)  # the trained model, whether or not n divides the batch count
        self.logger.close()
