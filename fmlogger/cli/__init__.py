"""The ``fmlogger`` command line: ``demo``, ``board``, ``compare``, ``export``, ``inspect``."""
