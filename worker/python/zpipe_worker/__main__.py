"""python3 -m zpipe_worker: see cli.py."""

import sys

from .cli import main

sys.exit(main())
