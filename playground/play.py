"""`python playground/play.py ...`, the documented command: see playground/cli/play.py."""

import pathlib
import sys

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from playground.cli.play import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
