"""The peers' benchmark: pinned environments, the request shapes, failed starts, the page."""

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from scripts.bench.peers.catalog import PEERS, Peer
from scripts.bench.peers.environment import (
    PeerUnavailable,
    peer_python,
    project_pins,
    requirements,
)
from scripts.bench.peers.report import plot_peers, render_peers_readme
from scripts.bench.peers.runner import BODIES, kserve_v2_body, request_bodies
from scripts.bench.peers.servers import PeerServer
from stack.process import REPO_ROOT

BUNDLE = REPO_ROOT / "models" / "korean-sentiment"
BY_KEY = {peer.key: peer for peer in PEERS}


def test_every_peer_is_pinned_and_gets_the_projects_inference_pins() -> None:
    pins = project_pins()
    assert set(pins) == {"onnxruntime", "tokenizers", "numpy"}
    for peer in PEERS:
        wanted = requirements(peer)
        assert all("==" in requirement for requirement in wanted), wanted
        assert pins["onnxruntime"] in wanted and pins["tokenizers"] in wanted
        assert not any(r.startswith("torch") for r in wanted)
    # The one peer whose framework needs another numpy gets that one, and only it.
    assert "numpy==1.26.4" in requirements(BY_KEY["pytriton"])
    assert pins["numpy"] not in requirements(BY_KEY["pytriton"])


def test_project_pins_name_what_constraints_txt_lacks(tmp_path: Path) -> None:
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("numpy==2.4.6\ntokenizers==0.22.2\n")
    with pytest.raises(ValueError, match="onnxruntime"):
        project_pins(constraints)


def test_both_request_shapes_carry_the_same_texts(tmp_path: Path) -> None:
    texts = ['정말 "최고"의 영화', "줄\n바꿈"]
    files = request_bodies(texts, tmp_path)
    assert set(files) == set(BODIES) == {peer.body for peer in PEERS} | {"classify"}
    assert kserve_v2_body(texts[0]) == {
        "inputs": [{"name": "texts", "shape": [1, 1], "datatype": "BYTES", "data": [texts[0]]}]
    }
    for shape, path in files.items():
        literal = path.read_text(encoding="ascii").splitlines()[1].rstrip(",")
        body = json.loads(json.loads(literal))
        assert body == BODIES[shape](texts[0])


def _server_with_log(tmp_path: Path, peer: Peer, log: str) -> PeerServer:
    server = PeerServer(peer, Path("/nonexistent/python"), BUNDLE, workers=2, cores=2)
    server.log_path = tmp_path / "peer.log"
    server.log_path.write_text(log)
    return server


def test_a_failed_start_is_reported_by_its_cause_not_the_wrapper(tmp_path: Path) -> None:
    log = (
        'E1202 model.cc] "failed: TritonModelException: Model initialize error: Traceback (most'
        " recent call last):\\n  File x\\nKeyError: 'texts'\\n\"\n"
        "tritonclient.utils.InferenceServerException: [400] load failed for model\n"
    )
    server = _server_with_log(tmp_path, BY_KEY["litserve"], log)
    assert server.failure_reason(RuntimeError("exited")) == "did not start: KeyError: 'texts'"


def test_a_known_failure_is_explained(tmp_path: Path) -> None:
    log = "AttributeError: '_thread.RLock' object has no attribute '_recursion_count'\n"
    reason = _server_with_log(tmp_path, BY_KEY["pytriton"], log).failure_reason(TimeoutError())
    assert reason.startswith("does not run here: Triton starts without a GPU")
    assert "pytriton issue #51" in reason


def test_the_peer_server_gets_the_model_services_layout() -> None:
    server = PeerServer(BY_KEY["mosec"], Path("/venv/bin/python"), BUNDLE, workers=2, cores=2)
    assert server.command() == ["/venv/bin/python", "-m", "scripts.bench.peers.mosec_app"]
    assert server.env["BENCH_WORKERS"] == "2"
    assert server.env["BENCH_INTRA_OP_THREADS"] == "1"
    assert server.env["BENCH_MAX_BATCH_SIZE"] == "64"
    assert server.env["BENCH_PORT"] == str(server.port)
    assert server.env["PYTHONPATH"] == str(REPO_ROOT)


def _point(concurrency: int, texts_per_s: float) -> dict:
    return {
        "concurrency": concurrency,
        "texts_per_request": 1,
        "requests": 100,
        "ok": 100,
        "failed": 0,
        "seconds": 10.0,
        "requests_per_s": texts_per_s,
        "texts_per_s": texts_per_s,
        "latency_ms": {"p50": 5.0, "p95": 9.0, "p99": 12.0},
        "cpu_share": {"generator": 0.01, "servers": 0.9, "machine": 0.92, "other": 0.01},
        "cpu_ms_per_request": {"server": 1.25},
    }


def _peers_results() -> dict:
    levels = [1, 8, 64]
    return {
        "command": "make bench-peers",
        "date": "2026-12-02T04:00:00+00:00",
        "quick": False,
        "seconds": 700.0,
        "git": {"commit": "0123456789abcdef", "dirty": False},
        "machine": {"cores_available": 2, "cpu_model": "Test CPU"},
        "settings": {"duration_s": 12.0, "warmup_s": 3.0, "workers": 2, "concurrency": levels},
        "data": {"texts": 2000},
        "designs": {
            "model_service": {
                "title": "ours",
                "layout": "2 workers",
                "points": [_point(c, 100.0 * c) for c in levels],
            },
            "mosec": {
                "title": "Mosec",
                "layout": "2 workers",
                "requirements": ["mosec==0.9.8"],
                "points": [_point(c, 90.0 * c) for c in levels],
            },
            "pytriton": {
                "title": "PyTriton",
                "layout": "2 instances",
                "points": None,
                "reason": "does not run here: its stub fails",
            },
        },
        "targets": [
            {
                "target": "ahead of every peer",
                "value": 1.111,
                "needed": 1.0,
                "passed": True,
                "detail": "6400 vs 5760 texts/s (Mosec)",
            }
        ],
    }


def test_the_page_shows_every_peer_with_figures_or_the_reason_it_did_not_run() -> None:
    page = render_peers_readme(_peers_results(), "peers.png")
    assert "| ours | 100 | 800 | 6400 | 5.0 / 12.0 | 0 | 1.25 | 1% |" in page
    assert "| Mosec | 90 | 720 | 5760 |" in page
    assert "| PyTriton | – | – | – | – | – | – | **does not run here: its stub fails** |" in page
    assert "| ahead of every peer | 1.111 | 1 | **pass** |" in page
    assert "Installed: `mosec==0.9.8`" in page
    assert "![peers.png](peers.png)" in page


def test_the_peers_chart_is_a_png_and_skips_peers_that_did_not_run(tmp_path: Path) -> None:
    chart = plot_peers(_peers_results(), tmp_path)
    assert chart == tmp_path / "peers.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.integration
def test_an_uninstallable_peer_is_reported_not_raised(tmp_path: Path) -> None:
    broken = Peer(key="broken", title="Broken", requirements=("not a requirement!",), module="x",
                  layout="")  # fmt: skip
    with pytest.raises(PeerUnavailable, match="installing Broken failed"):
        peer_python(broken, tmp_path)
    assert not (tmp_path / "broken" / ".installed").exists()


@pytest.mark.integration
def test_mosec_serves_the_model_from_its_own_environment() -> None:
    """A real peer end to end: its pinned environment (made once, kept under state/peers/), its
    server on the bundle, and one request answered with the model service's predictions."""
    mosec = BY_KEY["mosec"]
    python = peer_python(mosec)
    probe = "import importlib.util as u; print(u.find_spec('bentoml') is None)"
    isolated = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, check=True
    )
    assert isolated.stdout.strip() == "True"  # the project's own dependencies are not there
    with PeerServer(mosec, python, BUNDLE, workers=1, cores=1) as server:
        response = httpx.post(server.classify_url, json={"texts": ["정말 최고의 영화"]}, timeout=30)
    assert response.status_code == 200, response.text
    [prediction] = response.json()["predictions"]
    assert prediction["label"] in {"negative", "neutral", "positive"}
    assert set(prediction["probabilities"]) == {"negative", "neutral", "positive"}
    assert prediction["model"].startswith("korean-sentiment:")
