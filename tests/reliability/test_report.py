"""The report script: the ledger's JSON becomes the tables between docs/reliability.md's markers."""

import json
from pathlib import Path

import pytest

from tests.reliability.ledger import NO_ANSWER, Ledger
from tests.reliability.report import BEGIN, DOC_PATH, END, main, update_document

DOC = f"# Title\n\nProse kept as written.\n\n{BEGIN}\nstale tables\n{END}\n\nMore prose.\n"


def sample_ledger() -> Ledger:
    ledger = Ledger()
    ledger.fault("gateway killed", faults=1, survived=True, sent=10, accepted=7, stored=8, lost=0,
                 stored_twice=0, half_written=0, stored_unacknowledged=1, scored=8,
                 statuses={"201": 7, NO_ANSWER: 3}, all_scored_within_s=2.5)  # fmt: skip
    ledger.fault("database restarted", faults=1, survived=False, sent=5, accepted=4, stored=3,
                 lost=1, stored_twice=0, half_written=0, stored_unacknowledged=0, scored=3,
                 statuses={"201": 4, "503": 1})  # fmt: skip
    ledger.refusal("body | too large", "gateway", [413, 413], expected="413")
    ledger.refusal("body | too large", "gateway", [413], expected="413")
    ledger.refusal("flood", "model service", [200, 429, 503], expected="200, 429 or 503")
    return ledger


def test_the_tables_replace_only_the_text_between_the_markers(tmp_path: Path) -> None:
    report, doc = tmp_path / "reliability.json", tmp_path / "reliability.md"
    sample_ledger().write(report)
    doc.write_text(DOC)

    assert main(["--report", str(report), "--doc", str(doc)]) == 0

    text = doc.read_text()
    assert text.startswith("# Title\n\nProse kept as written.\n\n" + BEGIN)
    assert text.endswith(END + "\n\nMore prose.\n")
    assert "stale tables" not in text
    lines = text.splitlines()
    survived = ("| gateway killed | 1 | yes | 10 | 7 | 8 | 0 | 0 | 0 | 1 | 8 | "
                "201 ×7, no answer ×3 | all scored 2.5 s after recovery |")  # fmt: skip
    lost = "| database restarted | 1 | **no** | 5 | 4 | 3 | 1 | 0 | 0 | 0 | 3 | 201 ×4, 503 ×1 |  |"
    totals = ("| **All** | **2** | **1** | **15** | **11** | **11** | **1** | **0** | **0** "
              "| **1** | **11** |  |  |")  # fmt: skip
    assert {survived, lost, totals} <= set(lines)
    assert "| gateway | body \\| too large | 3 | 413 ×3 | 413 |" in lines
    assert "| model service | flood | 3 | 200 ×1, 429 ×1, 503 ×1 | 200, 429 or 503 |" in lines


def test_runs_merge_by_scenario(tmp_path: Path) -> None:
    report = tmp_path / "reliability.json"
    sample_ledger().write(report)
    later = Ledger()
    later.refusal("flood", "model service", [429], expected="429")
    later.write(report)

    merged = json.loads(report.read_text())
    assert set(merged["faults"]) == {"gateway killed", "database restarted"}
    assert merged["refusals"]["model service: flood"]["statuses"] == {"429": 1}
    assert merged["refusals"]["gateway: body | too large"]["tried"] == 3


def test_a_document_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="markers"):
        update_document("# no markers here\n", "tables")


def test_the_committed_document_has_the_markers() -> None:
    text = DOC_PATH.read_text(encoding="utf-8")
    assert text.count(BEGIN) == text.count(END) == 1
