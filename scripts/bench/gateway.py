"""The gateway point of `make bench` alone: POST /reviews/ at concurrency 32, printed as JSON.

For before/after figures of a gateway change, run it in both trees in one session, e.g.

    git worktree add /tmp/before <commit>
    data=$PWD/../shared/data/naver-movie-reviews/test.tsv.gz
    (cd /tmp/before && $OLDPWD/.venv/bin/python -m scripts.bench.gateway \
        --data $data --bundle $OLDPWD/models/korean-sentiment)
    .venv/bin/python -m scripts.bench.gateway --bundle models/korean-sentiment

Each run imports the gateway, the model service and the benchmark of the tree it runs in (its
working directory), so both trees need this layout (scripts/bench/).
Options are `make bench`'s (`--bundle`, `--data`, `--duration`, `--workers`, ...).
"""

import json
import logging
import sys
import tempfile
from pathlib import Path

from scripts.bench import benchmark as bench
from stack.parts import ModelServiceProcess


def main(argv: list[str]) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    bench.log.setLevel(logging.INFO)
    options = bench.parse_args(argv)
    texts = bench.review_texts(options.data, options.sample, options.seed)
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as work_dir:
        work = Path(work_dir)
        tag = bench.register_bundle_in(work / "bentoml", options.bundle)
        env = {"MODEL_SERVICE_WORKERS": str(options.workers)}
        with ModelServiceProcess(work / "bentoml", tag, env=env) as service:
            point = bench.gateway(options, work, texts, service)
    print(json.dumps(point, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
