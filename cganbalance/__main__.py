"""``python -m cganbalance``: the command line (so that launchers such as ``torchrun -m`` can start it)."""

import sys

from .cli import main

sys.exit(main())
