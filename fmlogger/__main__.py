"""``python -m fmlogger`` runs the command line."""

import sys

from fmlogger.cli import main

sys.exit(main())
