"""What the reliability tests sent and what came of it, kept in artifacts/reliability.json.

Each test records its figures before asserting on them, so a failed run shows in the file too.
`python -m tests.reliability.report` turns the file into the tables of docs/reliability.md.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stack.process import REPO_ROOT
from tests.reliability.report import REPORT_PATH

# A request that got no HTTP answer at all (connection refused or reset, timeout).
NO_ANSWER = "no answer"


class Ledger:
    """Figures of one test run: fault scenarios by name, inputs by target and case."""

    def __init__(self) -> None:
        self.faults: dict[str, dict[str, Any]] = {}
        self.refusals: dict[str, dict[str, Any]] = {}

    def fault(self, scenario: str, **figures: Any) -> None:
        """A fault scenario: requests sent, accepted, stored, lost, faults injected and survived."""
        self.faults[scenario] = figures

    def refusal(self, case: str, target: str, statuses: Iterable[int | str], expected: str) -> None:
        """Inputs tried against `target` and the statuses they got (added up over the run)."""
        entry = self.refusals.setdefault(
            f"{target}: {case}",
            {"case": case, "target": target, "expected": expected, "statuses": Counter()},
        )
        entry["statuses"].update(str(status) for status in statuses)

    def write(self, path: Path = REPORT_PATH) -> None:
        """Merge into `path`: entries of this run replace those of the same name."""
        report = _read(path)
        report["faults"].update(self.faults)
        report["refusals"].update(
            {
                key: {**entry, "tried": entry["statuses"].total()}
                for key, entry in self.refusals.items()
            }
        )
        report["run"] = {"finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
                         "commit": _commit()}  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _read(path: Path) -> dict[str, Any]:
    report = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {"faults": report.get("faults", {}), "refusals": report.get("refusals", {})}


def _commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"
