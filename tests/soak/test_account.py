"""The soak's accounting on made-up ledgers and rows: each kind of broken promise is caught."""

from scripts.soak.account import (
    StoredReview,
    ledger_against_rows,
    memory_growth,
    outside_faults,
    verdict,
)
from scripts.soak.memory import Sample
from scripts.soak.stack import Fault
from scripts.soak.traffic import Ledger, Request, Written


def ledger_of(**reviews: Written) -> Ledger:
    ledger = Ledger(run="soak1")
    for marker, written in reviews.items():
        ledger.accept(marker, written)
    return ledger


def row(marker: str, review_id: int, content: str | None = None, scored: bool = True):
    return StoredReview(marker, review_id, content or f"{marker} text", scored)


def test_a_ledger_matched_by_its_rows_breaks_no_promise():
    ledger = ledger_of(a=Written(1, "a text", 0), b=Written(2, "b text", 1, deleted=True))
    figures = ledger_against_rows(ledger, [row("a", 1)])
    assert figures == {"accepted": 2, "deleted": 1, "stored": 1, "lost": 0, "duplicated": 0,
                       "stale_edits": 0, "resurrected": 0, "stored_unacknowledged": 0,
                       "unscored": 0}  # fmt: skip


def test_each_broken_promise_is_counted():
    ledger = ledger_of(
        lost=Written(1, "lost text", 0),
        twice=Written(2, "twice text", 0),
        edited=Written(3, "edited v2", 0),
        gone=Written(4, "gone text", 0, deleted=True),
        waiting=Written(5, "waiting text", 0),
    )
    rows = [row("twice", 2), row("twice", 9), row("edited", 3, "edited v1"), row("gone", 4),
            row("waiting", 5, scored=False), row("stranger", 6)]  # fmt: skip
    figures = ledger_against_rows(ledger, rows)
    assert (figures["lost"], figures["duplicated"], figures["stale_edits"]) == (1, 1, 1)
    assert (figures["resurrected"], figures["unscored"]) == (1, 1)
    assert figures["stored_unacknowledged"] == 1


def test_an_edit_that_got_no_answer_may_have_landed_or_not():
    written = Written(3, "edited v1", 0, maybe={"edited v2"})
    for content in ("edited v1", "edited v2"):
        figures = ledger_against_rows(ledger_of(edited=written), [row("edited", 3, content)])
        assert figures["stale_edits"] == 0
    figures = ledger_against_rows(ledger_of(edited=written), [row("edited", 3, "edited v3")])
    assert figures["stale_edits"] == 1


def test_latency_between_faults_leaves_out_each_fault_and_its_settling():
    fault = Fault("gateway", "SIGKILL, restart", started_s=100.0, recovered_s=104.0)
    requests = [Request(t, "write", 201, 0.01) for t in (99.0, 100.0, 110.0, 118.9, 119.1)]
    assert [r.t_s for r in outside_faults(requests, [fault])] == [99.0, 119.1]


def test_memory_growth_is_judged_per_life_from_its_warm_up():
    def life(incarnation: int, start: float, mibs: list[float]) -> list[Sample]:
        return [
            Sample(start + 60 * i, "gateway", incarnation, 1, mib) for i, mib in enumerate(mibs)
        ]

    # Two minutes of warm-up each; then the first life grows 5%, the second 20%.
    samples = life(0, 0, [50, 80, 100, 105]) + life(1, 300, [60, 70, 100, 120])
    growth = memory_growth(samples)["gateway"]
    assert growth["growth"] == 0.2 and growth["lives"] == 2
    # A life too short to be warm is not judged.
    assert (
        memory_growth(life(0, 0, [50, 100, 100]) + life(1, 300, [10, 50, 100, 100]))["gateway"][
            "lives"
        ]
        == 1
    )


def life_of(
    private: list[float], shared: list[float], size: list[float], part: str = "postgres"
) -> list[Sample]:
    return [
        Sample(60 * i, part, 0, 10, mib, touched, segments)
        for i, (mib, touched, segments) in enumerate(zip(private, shared, size, strict=True))
    ]


def failures_of(samples: list[Sample]) -> list[str]:
    store = dict.fromkeys(("lost", "duplicated", "stale_edits", "resurrected", "unscored"), 0)
    return verdict(store, memory_growth(samples), Ledger(run="soak1"))["failures"]


def test_shared_buffers_filling_within_their_segment_are_not_growth():
    # Private memory flat; the cache fills from 20 to 90 of a 150 MiB segment.
    samples = life_of([30, 31, 31, 31.5], [10, 20, 60, 90], [150] * 4)
    growth = memory_growth(samples)["postgres"]
    assert growth["growth"] == round(31.5 / 31 - 1, 3)
    assert (growth["shared_warm_mib"], growth["shared_last_mib"]) == (60, 90)
    assert failures_of(samples) == []


def test_private_growth_or_growing_shared_segments_fail_the_verdict():
    assert failures_of(life_of([30, 31, 31, 40], [10] * 4, [150] * 4)) == [
        "private memory postgres +29.0%"
    ]
    # Segments mapped anew: all the part could fill, 180 MiB at warm-up, is 230 at the end.
    assert failures_of(life_of([30] * 4, [10, 20, 30, 40], [150, 150, 150, 200])) == [
        "private memory and shared segments of postgres +27.8%"
    ]


def test_small_shared_files_growing_a_little_are_judged_by_the_whole():
    # The model service's few shared pages (metrics files) growing from 0.4 to 0.6 MiB.
    samples = life_of(
        [320, 323, 323, 327], [0.4, 0.4, 0.4, 0.6], [0.4, 0.4, 0.4, 0.6], part="model-service"
    )
    assert failures_of(samples) == []
