"""A peer's own virtual environment under state/peers/<key>/, made and filled by the bench.

The project itself is not installed there: the peer's server runs with the repository on its
PYTHONPATH and imports only model_service.inference of it.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

from scripts.bench.peers.catalog import Peer
from stack.process import REPO_ROOT

PEERS_STATE = REPO_ROOT / "state" / "peers"
# What SentimentModel needs, at the project's pins.
INFERENCE_PACKAGES = ("onnxruntime", "tokenizers", "numpy")
STAMP = ".installed"


class PeerUnavailable(RuntimeError):
    """The peer cannot run on this machine; the message says why, for the report."""


def project_pins(constraints: Path = REPO_ROOT / "constraints.txt") -> dict[str, str]:
    """name → `name==version` for the inference packages, read from constraints.txt."""
    pins = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match and match[1].lower() in INFERENCE_PACKAGES:
            pins[match[1].lower()] = f"{match[1].lower()}=={match[2]}"
    missing = set(INFERENCE_PACKAGES) - set(pins)
    if missing:
        raise ValueError(f"{constraints} pins none of {sorted(missing)}")
    return pins


def requirements(peer: Peer) -> list[str]:
    """Everything pip installs into the peer's environment, pinned."""
    pins = project_pins()
    if peer.numpy:
        pins["numpy"] = peer.numpy
    return [*peer.requirements, *pins.values()]


def peer_python(peer: Peer, root: Path = PEERS_STATE) -> Path:
    """The peer environment's interpreter, made or brought up to date when its pins changed."""
    home = root / peer.key
    python = home / "bin" / "python"
    wanted = "\n".join(requirements(peer))
    digest = hashlib.sha256(wanted.encode()).hexdigest()
    stamp = home / STAMP
    if python.exists() and stamp.is_file() and stamp.read_text().strip() == digest:
        return python
    if not python.exists():
        _run([sys.executable, "-m", "venv", "--clear", str(home)], peer)
    _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
          *requirements(peer)], peer)  # fmt: skip
    _check_no_torch(python, peer)
    stamp.write_text(digest + "\n")
    return python


def _run(command: list[str], peer: Peer) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise PeerUnavailable(f"installing {peer.title} failed: {tail}")


def _check_no_torch(python: Path, peer: Peer) -> None:
    """A peer that pulls torch is not one this model needs (and torch would bring CUDA)."""
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"
    if subprocess.run([str(python), "-c", probe], check=False).returncode != 0:
        raise PeerUnavailable(f"{peer.title} installs torch, which serving this model needs not")
