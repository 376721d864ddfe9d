"""No process outlives the one that started it: a server SIGKILLed alone (a crash, the OOM killer)
takes whatever it started with it, its port is free, and a restart on that port serves."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable

import httpx
import psutil
import pytest

from model_service.lifetime import ARBITER_PID
from stack.parts import MACHINE_HEADERS, GatewayProcess, ModelServiceProcess, UIProcess
from stack.process import REPO_ROOT, ServerProcess

pytestmark = pytest.mark.integration

WORKER_MODULE = "_bentoml_impl.worker.service"
GONE_WITHIN_S = 5.0
# Nothing listens there: the gateway and the UI start without the part behind them.
NOWHERE = "http://127.0.0.1:9"


def running(process: psutil.Process) -> bool:
    """Alive and not a zombie (a zombie holds no socket; its reaping is its new parent's job)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def still_running_after(processes: Iterable[psutil.Process], timeout: float) -> list[int]:
    """The pids of `processes` still running `timeout` seconds on (empty as soon as none is)."""
    deadline = time.monotonic() + timeout
    while (alive := [p.pid for p in processes if running(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def port_is_free(port: int) -> bool:
    """Whether a new server could listen on 127.0.0.1:`port` (connections in TIME_WAIT allowed,
    as every server here sets SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_within(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not port_is_free(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def workers_of(service: ModelServiceProcess) -> list[psutil.Process]:
    children = psutil.Process(service.process.pid).children()
    return [child for child in children if WORKER_MODULE in child.cmdline()]


def test_bentoml_workers_die_with_their_sigkilled_main_process_and_a_restart_serves(
    tiny_bentoml_home, tiny_model_tag
) -> None:
    service = ModelServiceProcess(
        tiny_bentoml_home, tiny_model_tag, env={"MODEL_SERVICE_WORKERS": "2"}
    )
    with service:
        workers = workers_of(service)
        assert len(workers) == 2, [worker.cmdline() for worker in workers]
        # Their own sessions: a signal to the main process's group would not reach them either.
        assert all(os.getsid(worker.pid) == worker.pid for worker in workers)
        # Told their parent's pid, to check it against after asking for the parent-death signal.
        arbiter = str(service.process.pid)
        assert all(worker.environ().get(ARBITER_PID) == arbiter for worker in workers)

        service.kill()  # the main process alone
        alive = still_running_after(workers, GONE_WITHIN_S)
        assert not alive, f"workers outlived their main process: {alive}"
        assert free_within(service.port, GONE_WITHIN_S)

        service.start()  # on the same port
        answer = httpx.post(f"{service.url}/classify", json={"texts": ["재미있다"]}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"][0]["model"] == tiny_model_tag


def assert_serves_alone_and_restarts(server: ServerProcess, path: str) -> None:
    """`server`, having answered `path`, has started no process; SIGKILLed it frees its port at
    once, and it starts again there."""
    with server:
        assert httpx.get(server.url + path, headers=MACHINE_HEADERS, timeout=10).status_code == 200
        children = psutil.Process(server.process.pid).children(recursive=True)
        assert children == [], [child.cmdline() for child in children]
        server.kill()
        assert free_within(server.port, GONE_WITHIN_S)
        server.start()


def test_the_gateway_is_one_process_and_a_killed_one_restarts_on_its_port(database_url) -> None:
    assert_serves_alone_and_restarts(GatewayProcess(database_url, NOWHERE), "/health")


def test_the_ui_is_one_process_and_a_killed_one_restarts_on_its_port() -> None:
    assert_serves_alone_and_restarts(UIProcess(NOWHERE), "/")


def test_make_runs_supervisor_sigkilled_takes_every_part_with_it() -> None:
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "tests.support.light_stack"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        pids = []
        for line in supervisor.stdout:
            pids += [int(pid) for pid in re.findall(r"\(pid (\d+),", line)]
            if "is running" in line:
                break
        parts = [psutil.Process(pid) for pid in pids]
        assert len(parts) == 3
        ports = [conn.laddr.port for part in parts for conn in part.net_connections("tcp")]
        assert len(ports) == 3

        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait(5)
        alive = still_running_after(parts, GONE_WITHIN_S)
        assert not alive, f"parts outlived the supervisor: {alive}"
        assert all(free_within(port, GONE_WITHIN_S) for port in ports)
    finally:
        supervisor.kill()
        supervisor.wait(5)
