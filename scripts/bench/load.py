"""Load for the benchmark: Debian's `wrk` over pre-built JSON bodies, and what the load cost.

wrk (C, one thread) keeps the load generator's share of the 2 cores small; each point also records
that share, the servers' share and the whole machine's, so a starved server shows in the results.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import psutil

WRK_SCRIPT = Path(__file__).with_name("wrk.lua")
RESULT_PREFIX = "BENCH_RESULT "
# Far above any latency a point should see: wrk's default (2 s) would count slow answers as errors
# and leave them out of the percentiles.
WRK_TIMEOUT_S = 30


def lua_string(text: str) -> str:
    """`text` (ASCII) as a double-quoted Lua string literal."""
    if not text.isascii():
        raise ValueError("Lua bodies must be ASCII: dump the JSON with ensure_ascii=True")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def write_bodies(
    bodies: Iterable[dict], path: Path, headers: Mapping[str, str] | None = None
) -> Path:
    """A Lua file defining `bodies`, the JSON request bodies wrk.lua cycles through, and
    `headers`, sent with each (e.g. the gateway's API key)."""
    literals = [lua_string(json.dumps(body, ensure_ascii=True)) for body in bodies]
    if not literals:
        raise ValueError("no request bodies")
    header_fields = [f"[{lua_string(k)}] = {lua_string(v)}" for k, v in (headers or {}).items()]
    path.write_text(
        "bodies = {\n" + ",\n".join(literals) + "\n}\n"
        "headers = {" + ", ".join(header_fields) + "}\n",
        encoding="ascii",
    )
    return path


def parse_wrk_output(stdout: str) -> dict:
    """The JSON line wrk.lua's done() prints."""
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise ValueError(f"wrk printed no {RESULT_PREFIX.strip()} line:\n{stdout}")


def summarise(raw: dict, texts_per_request: int) -> dict:
    """Throughput of successful requests (2xx/3xx) and the latency percentiles in milliseconds."""
    seconds = raw["duration_us"] / 1e6
    failed = raw["errors"]["status"] + raw["errors"]["timeout"]
    ok = max(raw["requests"] - raw["errors"]["status"], 0)
    latency = {key: round(value / 1000, 2) for key, value in raw["latency_us"].items()}
    return {
        "requests": raw["requests"],
        "ok": ok,
        "failed": failed,
        "errors": raw["errors"],
        "seconds": round(seconds, 2),
        "requests_per_s": round(ok / seconds, 1) if seconds else 0.0,
        "texts_per_s": round(ok * texts_per_request / seconds, 1) if seconds else 0.0,
        "latency_ms": latency,
    }


def process_tree_cpu(pids: Sequence[int]) -> float:
    """User + system CPU seconds of the processes and all their descendants (alive ones)."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in family:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
    return total


def _machine_busy_and_total() -> tuple[float, float]:
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    total = sum(times)
    return total - idle, total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(
    url: str,
    bodies_file: Path,
    *,
    concurrency: int,
    duration_s: float,
    texts_per_request: int = 1,
    servers: Mapping[str, int] | None = None,
) -> dict:
    """One closed-loop load point: `concurrency` connections POSTing bodies for `duration_s`.

    CPU shares are fractions of the whole machine (all cores) over the run's wall time:
    the generator's from wrk's own rusage, the servers' (name → root pid) from their process
    trees; each server's CPU milliseconds per successful request show where the work goes.
    """
    servers = dict(servers or {})
    cores = psutil.cpu_count() or 1
    command = [
        "wrk", "-t", "1", "-c", str(concurrency), "-d", f"{max(1, round(duration_s))}s",
        "--timeout", f"{WRK_TIMEOUT_S}s", "-s", str(WRK_SCRIPT), url,
    ]  # fmt: skip
    env = {**os.environ, "BENCH_WRK_BODIES": str(bodies_file)}
    generator_before = _children_cpu()
    server_before = {name: process_tree_cpu([pid]) for name, pid in servers.items()}
    busy_before, total_before = _machine_busy_and_total()
    started = time.perf_counter()
    finished = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    busy_after, total_after = _machine_busy_and_total()
    generator_cpu = _children_cpu() - generator_before
    server_cpu = {
        name: process_tree_cpu([pid]) - server_before[name] for name, pid in servers.items()
    }
    if finished.returncode != 0:
        raise RuntimeError(f"wrk failed ({finished.returncode}): {finished.stderr.strip()}")
    point = {"concurrency": concurrency, "texts_per_request": texts_per_request}
    point |= summarise(parse_wrk_output(finished.stdout), texts_per_request)
    generator = generator_cpu / wall / cores
    served = sum(server_cpu.values()) / wall / cores
    machine = (busy_after - busy_before) / max(total_after - total_before, 1e-9)
    point["cpu_share"] = {
        "generator": round(generator, 3),
        "servers": round(served, 3) if servers else None,
        "machine": round(machine, 3),
        # Whatever else ran meanwhile: a figure measured beside other work is not this stack's.
        "other": round(max(machine - generator - served, 0.0), 3) if servers else None,
    }
    point["cpu_ms_per_request"] = {
        name: round(seconds * 1000 / max(point["ok"], 1), 3) for name, seconds in server_cpu.items()
    }
    return point
