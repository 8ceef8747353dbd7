"""`python -m playground.config --print/--write-docs`."""

import sys

from playground.config.docs import main

sys.exit(main())
