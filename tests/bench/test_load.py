"""The benchmark's load generator: bodies reach the server intact, wrk's figures are read."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from scripts.bench.load import lua_string, parse_wrk_output, run_wrk, summarise, write_bodies

# Quotes, backslashes, newlines and Korean: what JSON escaping and Lua quoting must both survive.
AWKWARD_TEXTS = ['정말 "최고"의 영화', "역슬래시 \\ 하나", "줄\n바꿈", "ㅋㅋㅋ 10/10 {}[]"]


def test_lua_string_quotes_what_lua_would_end_on() -> None:
    assert lua_string('a "b" \\ c') == '"a \\"b\\" \\\\ c"'
    assert lua_string("x\ny") == '"x\\ny"'


def test_lua_string_refuses_non_ascii() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        lua_string("영화")


def test_write_bodies_refuses_an_empty_mix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no request bodies"):
        write_bodies([], tmp_path / "bodies.lua")


def test_parse_wrk_output_finds_the_result_line_among_wrk_text() -> None:
    stdout = 'Running 2s test\n  1 threads\nBENCH_RESULT {"requests": 5}\nRequests/sec: 2.5\n'
    assert parse_wrk_output(stdout) == {"requests": 5}
    with pytest.raises(ValueError, match="BENCH_RESULT"):
        parse_wrk_output("Running 2s test\n")


def test_summarise_counts_only_successful_requests_as_throughput() -> None:
    raw = {
        "requests": 1000,
        "duration_us": 10_000_000,
        "errors": {"connect": 0, "read": 0, "write": 0, "status": 200, "timeout": 5},
        "latency_us": {"p50": 1500, "p99": 250_000},
    }
    point = summarise(raw, texts_per_request=32)
    assert point["ok"] == 800
    assert point["failed"] == 205
    assert point["requests_per_s"] == 80.0
    assert point["texts_per_s"] == 2560.0
    assert point["latency_ms"] == {"p50": 1.5, "p99": 250.0}


class _Recorder(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(body)
        status = 200 if self.headers["Content-Type"] == "application/json" else 415
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recording_server() -> Iterator[str]:
    _Recorder.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/classify"
    server.shutdown()
    server.server_close()


@pytest.mark.integration
def test_wrk_posts_the_bodies_as_written(recording_server: str, tmp_path: Path) -> None:
    bodies = [{"texts": [text]} for text in AWKWARD_TEXTS]
    bodies_file = write_bodies(bodies, tmp_path / "bodies.lua")

    point = run_wrk(recording_server, bodies_file, concurrency=2, duration_s=1)

    received = [json.loads(body) for body in _Recorder.bodies]
    assert point["ok"] > 0
    assert point["failed"] == 0
    # wrk may cut the last requests short at the deadline; every body it completed was recorded.
    assert len(received) >= point["requests"]
    assert {json.dumps(b, ensure_ascii=False) for b in received} == {
        json.dumps(b, ensure_ascii=False) for b in bodies
    }
    assert 0 <= point["cpu_share"]["generator"] <= 1
