"""`python -m scripts.bench.peers`: the peers' benchmark (scripts/bench/peers/runner.py)."""

import sys

from scripts.bench.peers.runner import main

sys.exit(main())
