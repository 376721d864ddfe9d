"""Static readers of the deployment files: compose.yaml, the Dockerfiles, .dockerignore."""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from pydantic_settings import BaseSettings

from gateway.settings import Settings as GatewaySettings
from model_service.settings import Settings as ModelServiceSettings
from stack.process import REPO_ROOT
from ui.settings import Settings as UISettings

COMPOSE_FILE = REPO_ROOT / "compose.yaml"
# Each part's compose service, its settings class and the dependency group its image installs.
PART_SETTINGS: dict[str, type[BaseSettings]] = {
    "model-service": ModelServiceSettings,
    "gateway": GatewaySettings,
    "ui": UISettings,
}
PART_GROUPS = {"model-service": "model", "gateway": "gateway", "ui": "ui"}


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper-cased: FROM, RUN, USER, ...
    arguments: str

    def words(self) -> list[str]:
        return shlex.split(self.arguments, posix=True)


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def compose_environment(service: dict) -> dict[str, str | None]:
    """A service's `environment` in either form; None for a bare (pass-through) name."""
    environment = service.get("environment") or {}
    if isinstance(environment, dict):
        return {name: None if value is None else str(value) for name, value in environment.items()}
    entries = {}
    for entry in environment:
        name, sep, value = entry.partition("=")
        entries[name] = value if sep else None
    return entries


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?message}` (raises when required and unset)."""

    def substitute(match: re.Match) -> str:
        name, operator, operand = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if operator == ":?":
            raise KeyError(f"{name}: {operand}")
        return operand if operator == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", substitute, value)


def dockerfile_of(service: dict) -> Path:
    build = service["build"]
    return REPO_ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")


def instructions(dockerfile: Path) -> list[Instruction]:
    """The file's instructions: continuation lines joined, comments and directives dropped."""
    result, pending = [], ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return result


def final_stage(dockerfile: Path) -> list[Instruction]:
    """The instructions of the last stage: what the image runs with."""
    steps = instructions(dockerfile)
    last_from = max(i for i, step in enumerate(steps) if step.keyword == "FROM")
    return steps[last_from:]


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `path` (relative, '/'-separated) out of the build context.

    Covers the syntax the project's file uses: globs, `**/`, directory names, `!` exceptions, the
    last matching line winning.
    """
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").strip("/")
        candidates = [glob, glob.removeprefix("**/")] if glob.startswith("**/") else [glob]
        if any(_matches(path, candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def _matches(path: str, glob: str) -> bool:
    parts = path.split("/")
    # A pattern naming a directory also covers everything under it.
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    return any(fnmatch.fnmatchcase(prefix, glob) for prefix in prefixes)


def dockerignore_patterns(path: Path = REPO_ROOT / ".dockerignore") -> list[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]
