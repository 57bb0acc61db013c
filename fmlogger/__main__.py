"""``python -m fmlogger`` runs the command line."""

import sys

from fmlogger.cli.main import main

sys.exit(main())
