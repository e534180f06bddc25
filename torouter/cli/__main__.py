"""``python -m torouter.cli``: the same as the ``torouter`` console script."""

import sys

from . import main

sys.exit(main())
