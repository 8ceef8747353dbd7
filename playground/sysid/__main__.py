"""`python -m playground.sysid fit ...` (see playground/cli/sysid.py)."""

import sys

from playground.cli.sysid import main

sys.exit(main())
