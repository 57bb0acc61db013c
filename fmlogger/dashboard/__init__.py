"""The "Feature Maps" dashboard: a TensorBoard plugin that shows every logged step of a run.

TensorBoard finds it through this distribution's ``tensorboard_plugins`` entry point
(``fmlogger.dashboard.plugin:FeatureMapsLoader``), so ``tensorboard --logdir runs`` shows a
"Feature Maps" tab wherever a log folder holds fmlogger runs. It reads fmlogger's own event files
(TensorBoard keeps only 10 image samples per tag), indexed by record offset: only the images a
browser asks for are read from disk. Nothing here imports TensorFlow or Keras.

Modules: ``index`` (one run folder's incremental offset index), ``catalog`` (the checked walk of
the log folder), ``plugin`` (the TensorBoard plugin and its routes), ``static/`` (the ES module).

Example:
    $ tensorboard --logdir runs        # then open the "Feature Maps" tab
"""
