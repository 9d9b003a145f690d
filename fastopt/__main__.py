"""``python -m fastopt compare ...``: see fastopt/compare.py."""

import sys

from fastopt.compare import main

if __name__ == "__main__":
    sys.exit(main())
