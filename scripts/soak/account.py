"""The soak's verdict: the ledger held against the database, latency between faults, memory."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from scripts.soak.memory import Sample
from scripts.soak.stack import Fault
from scripts.soak.traffic import NO_ANSWER, Ledger, Request

# After a fault's recovery, clients still drain their backoff: their latency is the fault's.
SETTLE_S = 15.0
# Memory is judged from this long after a process (re)starts: caches and pools fill first.
WARM_UP_S = 120.0
MAX_GROWTH = 0.10


@dataclass(frozen=True)
class StoredReview:
    marker: str
    review_id: int
    content: str
    scored: bool


def ledger_against_rows(ledger: Ledger, rows: Iterable[StoredReview]) -> dict[str, int]:
    """Lost, duplicated, stale, resurrected, unscored: each must be 0."""
    by_marker: dict[str, list[StoredReview]] = defaultdict(list)
    for row in rows:
        by_marker[row.marker].append(row)
    accepted = ledger.reviews
    standing = {marker: w for marker, w in accepted.items() if not w.deleted}
    stale = 0
    for marker, written in standing.items():
        found = by_marker.get(marker, [])
        if len(found) == 1 and found[0].content not in {written.content, *written.maybe}:
            stale += 1
    return {
        "accepted": len(accepted),
        "deleted": len(accepted) - len(standing),
        "stored": sum(len(found) for found in by_marker.values()),
        "lost": sum(
            1
            for marker, w in standing.items()
            if w.review_id not in {row.review_id for row in by_marker.get(marker, [])}
        ),
        "duplicated": sum(1 for found in by_marker.values() if len(found) > 1),
        "stale_edits": stale,
        "resurrected": sum(1 for m, w in accepted.items() if w.deleted and m in by_marker),
        "stored_unacknowledged": sum(1 for marker in by_marker if marker not in accepted),
        "unscored": sum(1 for found in by_marker.values() for row in found if not row.scored),
    }


def outside_faults(requests: Iterable[Request], faults: Iterable[Fault]) -> list[Request]:
    """The requests sent while no fault was under way or settling."""
    windows = [(f.started_s, (f.recovered_s or f.started_s) + SETTLE_S) for f in faults]
    return [r for r in requests if not any(start <= r.t_s <= end for start, end in windows)]


def latency(requests: list[Request]) -> dict[str, float | int]:
    """How many requests, how many got no answer, and the answered ones' p50 and p99."""
    answered = [r.latency_s * 1000 for r in requests if r.status != NO_ANSWER]
    figures = {"n": len(requests), "no_answer": len(requests) - len(answered)}
    if answered:
        p50, p99 = np.percentile(answered, [50, 99])
        figures |= {"p50_ms": round(float(p50), 1), "p99_ms": round(float(p99), 1)}
    return figures


def statuses(requests: Iterable[Request]) -> dict[str, int]:
    return {
        str(status): n
        for status, n in sorted(
            Counter(r.status for r in requests).items(), key=lambda item: str(item[0])
        )
    }


def memory_growth(samples: list[Sample]) -> dict[str, dict[str, float]]:
    """Per part, the largest growth of private memory in one incarnation, warm-up to last sample.

    An incarnation's first sample marks its start; one that ends before it is warm is not judged.
    Beside it, that life's shared memory (touched, and the segments' size) at the same two samples.
    """
    lives: dict[tuple[str, int], list[Sample]] = defaultdict(list)
    for sample in samples:
        lives[(sample.part, sample.incarnation)].append(sample)
    growth: dict[str, dict[str, float]] = {}
    for (part, _), life in sorted(lives.items()):
        warm = [s for s in life if s.t_s >= life[0].t_s + WARM_UP_S]
        if len(warm) < 2:
            continue
        judged = growth.setdefault(part, {"growth": -1.0, "lives": 0})
        judged["lives"] += 1
        ratio = warm[-1].mib / warm[0].mib - 1
        if ratio > judged["growth"]:
            judged |= _life_figures(warm[0], warm[-1]) | {"growth": ratio}
    return {part: {k: round(v, 3) for k, v in g.items()} for part, g in growth.items()}


def _life_figures(first: Sample, last: Sample) -> dict[str, float]:
    return {
        "warm_mib": first.mib,
        "last_mib": last.mib,
        "shared_warm_mib": first.shared_mib,
        "shared_last_mib": last.shared_mib,
        "shared_size_warm_mib": first.shared_size_mib,
        "shared_size_last_mib": last.shared_size_mib,
    }


def _shared_failures(part: str, g: dict[str, float]) -> list[str]:
    """Shared memory is judged by its bound: what the part holds privately plus the size of its
    shared segments (all it could fill) must not grow either, and no more can be touched."""
    reach_warm = g["warm_mib"] + g["shared_size_warm_mib"]
    reach_last = g["last_mib"] + g["shared_size_last_mib"]
    failures = []
    if reach_last > reach_warm * (1 + MAX_GROWTH):
        failures.append(
            f"private memory and shared segments of {part} +{reach_last / reach_warm - 1:.1%}"
        )
    if g["shared_last_mib"] > g["shared_size_last_mib"]:
        failures.append(f"shared memory of {part} past its segments' size")
    return failures


def verdict(store: dict[str, int], growth: dict[str, dict[str, float]], ledger: Ledger) -> dict:
    """Which promises held."""
    failures = [
        name
        for name in ("lost", "duplicated", "stale_edits", "resurrected", "unscored")
        if store[name]
    ]
    for part, g in growth.items():
        if g["growth"] > MAX_GROWTH:
            failures.append(f"private memory {part} +{g['growth']:.1%}")
        failures += _shared_failures(part, g)
    if ledger.surprises:
        failures.append(f"{len(ledger.surprises)} unexpected answers")
    return {"passed": not failures, "failures": failures}
