"""The database's safety net on Cloud Run, as dry runs: every deploy turns on daily backups,
point-in-time recovery and deletion protection; `restore` clones the instance as it was at a
time and moves the gateway to the clone, never printing the password."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scripts.deploy.cloud_run import DeployError, restore_point, rfc3339
from stack.process import REPO_ROOT
from tests.deploy.test_deploy_script import (
    DEFAULTS,
    PROJECT,
    commands,
    deploys,
    dry_run,
    option,
)

INSTANCE = DEFAULTS.instance
DB_PASSWORD = "fake-db-password-4Kp8"
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def patches(printed_commands: list[list[str]], instance: str) -> list[list[str]]:
    return [
        c for c in printed_commands if c[:5] == ["gcloud", "sql", "instances", "patch", instance]
    ]


def assert_protected(patch: list[str]) -> None:
    assert "--enable-point-in-time-recovery" in patch
    assert "--deletion-protection" in patch
    assert f"--backup-start-time={DEFAULTS.backup_start_time}" in patch
    assert f"--retained-backups-count={DEFAULTS.retained_backups}" in patch
    assert f"--retained-transaction-log-days={DEFAULTS.transaction_log_days}" in patch
    assert "--quiet" in patch  # a script: no prompt


def test_a_deploy_turns_on_backups_and_point_in_time_recovery_before_the_gateway(tmp_path):
    result = dry_run(tmp_path)
    assert result.returncode == 0, result.stderr
    printed_commands = commands(result.stdout)

    [patch] = patches(printed_commands, INSTANCE)
    assert_protected(patch)
    assert option(patch, "--project") == PROJECT
    [enable] = [c for c in printed_commands if c[:3] == ["gcloud", "services", "enable"]]
    gateway = deploys(printed_commands)["moviegpt-gateway"]
    assert "sqladmin.googleapis.com" in enable
    assert printed_commands.index(enable) < printed_commands.index(patch)
    assert printed_commands.index(patch) < printed_commands.index(gateway)
    # And it says how to restore.
    assert "restore --point-in-time" in result.stderr
    assert (
        f"point-in-time recovery over the last {DEFAULTS.transaction_log_days} days"
        in result.stderr
    )


def test_fewer_backups_than_days_of_logs_are_refused_before_any_command(tmp_path):
    refused = dry_run(tmp_path, RETAINED_BACKUPS="7", TRANSACTION_LOG_DAYS="7")
    assert refused.returncode == 2
    assert "RETAINED_BACKUPS (7) must exceed TRANSACTION_LOG_DAYS (7)" in refused.stderr
    assert refused.stdout == ""


def restore(tmp_path: Path, point_in_time: str, **env: str) -> subprocess.CompletedProcess[str]:
    return dry_run(tmp_path, "restore", "--point-in-time", point_in_time, **env)


def an_hour_ago() -> datetime:
    return (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


def test_restore_clones_the_instance_at_the_time_and_moves_the_gateway_to_the_clone(tmp_path):
    moment = an_hour_ago()
    in_seoul = moment.astimezone(ZoneInfo("Asia/Seoul")).isoformat()
    result = restore(tmp_path, in_seoul, DB_PASSWORD=DB_PASSWORD)
    assert result.returncode == 0, result.stderr
    printed_commands = commands(result.stdout)

    clone_name = f"{INSTANCE}-{moment:%Y%m%d-%H%M%S}"
    [clone] = [c for c in printed_commands if c[:4] == ["gcloud", "sql", "instances", "clone"]]
    assert clone[4:6] == [INSTANCE, clone_name]
    assert f"--point-in-time={moment:%Y-%m-%dT%H:%M:%S}.000Z" in clone  # UTC, as gcloud takes it
    [patch] = patches(printed_commands, clone_name)
    assert_protected(patch)
    [new_url] = [c for c in printed_commands if c[:4] == ["gcloud", "secrets", "versions", "add"]]
    assert new_url[4] == DEFAULTS.database_url_secret
    connection = f"{PROJECT}:{DEFAULTS.region}:{clone_name}"
    [sent] = [line for line in result.stdout.splitlines() if " versions add " in line]
    assert sent.endswith(f" <<< postgresql+psycopg2://{DEFAULTS.db_user}:${{DB_PASSWORD}}"
                         f"@/{DEFAULTS.db_name}?host=/cloudsql/{connection}")  # fmt: skip
    [gateway] = [c for c in printed_commands if c[:4] == ["gcloud", "run", "services", "update"]]
    assert gateway[4] == "moviegpt-gateway"
    assert option(gateway, "--set-cloudsql-instances") == connection
    order = [printed_commands.index(c) for c in (clone, patch, new_url, gateway)]
    assert order == sorted(order)
    # The source is left as it is: nothing deletes or patches it.
    assert not patches(printed_commands, INSTANCE)
    assert not [c for c in printed_commands if "delete" in c]
    assert DB_PASSWORD not in result.stdout + result.stderr
    assert f"INSTANCE={clone_name}" in result.stderr


def test_a_restore_for_real_needs_the_database_password_before_any_command(tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    refused = subprocess.run(
        [sys.executable, "-m", "scripts.deploy.cloud_run", "restore", "--project", PROJECT,
         "--point-in-time", an_hour_ago().isoformat()],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": str(empty_bin), "HOME": str(tmp_path), "IMAGE_TAG": "t"},
    )  # fmt: skip
    assert refused.returncode == 2
    assert "set DB_PASSWORD" in refused.stderr
    assert refused.stdout == ""


def test_a_restore_without_a_time_is_refused_saying_what_to_give(tmp_path):
    refused = dry_run(tmp_path, "restore")
    assert refused.returncode == 2
    assert "restore needs --point-in-time" in refused.stderr
    assert refused.stdout == ""


@pytest.mark.parametrize(("text", "reason"), [
    ("yesterday", "is not an RFC 3339 time"),
    ("2026-11-22T01:50:00", "has no time zone"),
    ("2026-11-22T03:00:01Z", "is in the future"),
    ("2026-11-14T02:59:59Z", "older than the 7 days of transaction logs"),
])  # fmt: skip
def test_restore_points_outside_the_recovery_window_are_refused(text, reason):
    with pytest.raises(DeployError, match=reason):
        restore_point(text, NOW, log_days=7)


def test_a_restore_point_with_an_offset_is_taken_in_utc():
    moment = restore_point("2026-11-22T10:50:00.25+09:00", NOW, log_days=7)
    assert rfc3339(moment) == "2026-11-22T01:50:00.250Z"
    assert rfc3339(restore_point("2026-11-15T03:00:00Z", NOW, log_days=7)) == (
        "2026-11-15T03:00:00.000Z"
    )
