"""Two bundles' cost per text compared in one process: alternating rounds, medians, the ratio."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.bench import bundles

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_rounds_alternate_the_order_and_the_ratio_is_of_the_medians(monkeypatch) -> None:
    calls = []
    # Per role and batch, the texts/s each round reports: medians 10 ms and 30 ms per text.
    rates = {("baseline", 1): [100, 50, 200], ("candidate", 1): [20, 40, 100 / 3]}
    rates |= {("baseline", 64): [1000] * 3, ("candidate", 64): [500] * 3}

    def measured(model, texts, batch, seconds):
        calls.append((model, batch))
        return {"texts_per_s": rates[model, batch][sum(c == (model, batch) for c in calls) - 1]}

    monkeypatch.setattr(bundles, "texts_per_second", measured)

    points = bundles.compare(
        {"baseline": "baseline", "candidate": "candidate"}, ["영화"], [1, 64], 3, 0.1
    )

    assert calls[:4] == [("baseline", 1), ("candidate", 1), ("baseline", 64), ("candidate", 64)]
    assert calls[4:8] == [("candidate", 1), ("baseline", 1), ("candidate", 64), ("baseline", 64)]
    assert points[0] == pytest.approx(
        {"batch": 1, "baseline_ms_per_text": 10.0, "candidate_ms_per_text": 30.0, "ratio": 3.0}
    )
    assert points[1]["ratio"] == 2.0


def test_the_command_measures_two_real_bundles(tiny_bundle: Path, tiny_reviews: Path) -> None:
    command = [sys.executable, "-m", "scripts.bench.bundles", str(tiny_bundle), str(tiny_bundle),
               "--data", str(tiny_reviews), "--rounds", "2", "--seconds", "0.01"]  # fmt: skip
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    card = json.loads((tiny_bundle / "card.json").read_text(encoding="utf-8"))
    assert report["baseline"] == report["candidate"] == f"{card['name']}:{card['version']}"
    assert [point["batch"] for point in report["points"]] == [1, 64]
    for point in report["points"]:
        assert point["baseline_ms_per_text"] > 0 and point["candidate_ms_per_text"] > 0
        assert point["ratio"] == pytest.approx(
            point["candidate_ms_per_text"] / point["baseline_ms_per_text"], rel=0.01
        )
