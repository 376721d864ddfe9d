"""The parent-death signal both halves set (model_service/lifetime.py in each BentoML worker,
stack/lifetime.py for each part `make run` starts), and their check for a parent already gone."""

import logging
import os
import subprocess
import sys

import pytest

from model_service import lifetime
from stack.process import REPO_ROOT

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")

# Prints the calling process's parent-death signal (PR_GET_PDEATHSIG), 0 when none is set.
PRINT_PDEATHSIG = (
    "import ctypes; sig = ctypes.c_int(); "
    "ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0); print(sig.value)"
)


def python(code: str, *, arbiter_pid: int | str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ}
    env.pop(lifetime.ARBITER_PID, None)
    if arbiter_pid is not None:
        env[lifetime.ARBITER_PID] = str(arbiter_pid)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


WORKER = "from model_service.lifetime import die_with_arbiter; die_with_arbiter(); "


@linux_only
def test_a_worker_started_by_the_arbiter_gets_sigkill_as_its_parent_death_signal() -> None:
    # This test's process stands for the arbiter: it is the worker's parent.
    worker = python(WORKER + PRINT_PDEATHSIG, arbiter_pid=os.getpid())
    assert worker.returncode == 0, worker.stderr
    assert worker.stdout.strip() == "9"  # SIGKILL


@linux_only
def test_a_worker_whose_arbiter_is_already_gone_exits_instead_of_serving() -> None:
    # pid 1 is never this worker's parent here: as if the arbiter had died before the prctl.
    worker = python(WORKER + "print('serving')", arbiter_pid=1)
    assert worker.returncode == 1
    assert "serving" not in worker.stdout
    assert "the bentoml serve process (pid 1) that started this worker is gone" in worker.stderr


def test_elsewhere_than_linux_a_worker_is_left_as_it_is_saying_why(monkeypatch, caplog) -> None:
    monkeypatch.setattr(lifetime.sys, "platform", "darwin")
    monkeypatch.setattr(lifetime.ctypes, "CDLL", None)  # would raise if called
    with caplog.at_level(logging.INFO, logger=lifetime.__name__):
        lifetime.die_with_arbiter()
    assert "no parent-death signal on darwin" in caplog.text


def test_the_arbiter_exports_its_own_pid_for_its_workers(monkeypatch) -> None:
    monkeypatch.setenv(lifetime.ARBITER_PID, "0")  # and restored after
    lifetime.remember_arbiter()
    assert os.environ[lifetime.ARBITER_PID] == str(os.getpid())


def launched(parent_pid: int, code: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "stack.lifetime", str(parent_pid), sys.executable, "-c", code]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


@linux_only
def test_a_part_keeps_its_parent_death_signal_through_the_exec_of_its_command() -> None:
    part = launched(os.getpid(), PRINT_PDEATHSIG)
    assert part.returncode == 0, part.stderr
    assert part.stdout.strip() == "9"


@linux_only
def test_a_part_whose_starter_is_already_gone_is_not_started() -> None:
    part = launched(1, "print('serving')")
    assert part.returncode != 0
    assert "serving" not in part.stdout
    assert "(pid 1) is gone; not starting it" in part.stderr
