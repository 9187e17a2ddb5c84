"""python3 -m sockbus: the command line (cli.py)."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
