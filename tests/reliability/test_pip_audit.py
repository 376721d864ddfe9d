"""pip-audit over every pinned dependency (constraints.txt): no known vulnerability ships.

The audit asks PyPI's vulnerability feed about each pin. Without network the test skips at once
and says why, rather than passing as if the pins had been checked.
"""

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from stack.process import REPO_ROOT

CONSTRAINTS = REPO_ROOT / "constraints.txt"
# Known vulnerabilities accepted for now: {"vulnerability id": "why it does not apply"}.
ACCEPTED: dict[str, str] = {}


def first_pin() -> tuple[str, str]:
    line = next(line for line in CONSTRAINTS.read_text().splitlines() if "==" in line)
    name, version = line.split("==")
    return name.strip(), version.strip()


def feed_unreachable() -> str | None:
    """Why PyPI's vulnerability feed cannot be asked from here, or None when it can."""
    name, version = first_pin()
    url = f"https://pypi.org/pypi/{name}/{version}/json"
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError as error:
        return f"{url}: {error!r}"
    if response.status_code != 200:
        return f"{url} answered {response.status_code}, not the JSON API"
    try:
        if "vulnerabilities" in response.json():
            return None
    except ValueError:
        pass
    return f"{url} answered, but not with PyPI's vulnerability data"


def test_no_pinned_dependency_has_a_known_vulnerability(tmp_path: Path) -> None:
    if reason := feed_unreachable():
        pytest.skip(f"pip-audit skipped: PyPI's vulnerability feed is unreachable ({reason})")
    command = [sys.executable, "-m", "pip_audit", "--requirement", str(CONSTRAINTS),
               "--no-deps", "--disable-pip", "--format", "json", "--progress-spinner", "off",
               "--timeout", "10", "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    try:
        audit = subprocess.run(command, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.skip("pip-audit skipped: the vulnerability feed did not answer within 240 s")
    if audit.returncode not in (0, 1) or not audit.stdout.strip():
        if "ConnectionError" in audit.stderr or "Could not connect" in audit.stderr:
            pytest.skip(f"pip-audit skipped: lost the vulnerability feed: {audit.stderr[-300:]}")
        pytest.fail(f"pip-audit failed ({audit.returncode}):\n{audit.stderr[-2000:]}")

    dependencies = json.loads(audit.stdout)["dependencies"]
    audited = [dependency for dependency in dependencies if "skip_reason" not in dependency]
    if not audited:
        pytest.skip("pip-audit skipped: the feed knew none of the pinned packages")
    vulnerable = {
        f"{dependency['name']}=={dependency['version']}": [
            f"{vuln['id']} (fixed in {', '.join(vuln['fix_versions']) or 'no release yet'})"
            for vuln in dependency["vulns"]
            if vuln["id"] not in ACCEPTED
        ]
        for dependency in audited
    }
    assert {pin: vulns for pin, vulns in vulnerable.items() if vulns} == {}
