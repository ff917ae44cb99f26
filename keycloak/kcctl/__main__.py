"""`python -m kcctl ...`: the command line (kcctl.cli)."""

import sys

from kcctl.cli import main

sys.exit(main())
