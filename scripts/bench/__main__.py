"""`python -m scripts.bench`: the whole benchmark (scripts/bench/benchmark.py)."""

import sys

from scripts.bench.benchmark import main

sys.exit(main())
