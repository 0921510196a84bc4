"""Run the command line with ``python -m localctl``."""

from __future__ import annotations

import sys

from localctl.cli import main

sys.exit(main())
