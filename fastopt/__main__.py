"""``python -m fastopt compare ...``: see fastopt/compare.py.

From the repository's root, ``python -m`` finds the uncompiled source folder first: there,
use the ``fastopt`` command (the same ``main``), which does not look in the current folder.
"""

import sys

from fastopt.compare import main

if __name__ == "__main__":
    sys.exit(main())
