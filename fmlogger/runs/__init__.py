"""The read side: event files read back (checked, streamed), runs compared and exported.

Nothing in this subpackage imports TensorFlow or Keras. ``events`` is the one event-file reader
(checked TFRecords, ``DamagedEventFile``); ``read``, ``compare`` and ``export`` are built on it.

Example:
    >>> from fmlogger.runs.events import iter_images
    >>> for tag, step, pngs in iter_images("runs/exp1/feature_maps"):   # doctest: +SKIP
    ...     print(tag, step, len(pngs))
"""
