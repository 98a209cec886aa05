"""``python -m mcnn_bench``: the same as the ``mcnn-bench`` command (what every worker runs)."""

import sys

from mcnn_bench.cli import main

sys.exit(main())
