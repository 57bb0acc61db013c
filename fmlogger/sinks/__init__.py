"""Sinks: where rendered steps go (TensorBoard event files, Projector files, run state).

Also the background worker that writes off the training thread and the per-process claims that
warn when two loggers share one run folder.
"""
