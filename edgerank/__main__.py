"""``python -m edgerank``: the same as the ``edgerank`` console script."""

import sys

from edgerank.cli import main

sys.exit(main())
