"""No secret is written into the repository's images, compose file or example environment.

Secrets reach the parts only from the environment at run time (.env for compose, Secret Manager
on Cloud Run); the files that build and wire the images name the variables, never their values.
"""

import re
import subprocess

import pytest

from stack.process import REPO_ROOT

# Names of settings that hold secrets: passwords, tokens, API keys, anything called secret.
SECRET_NAME = re.compile(r"[A-Z0-9_]*(PASSWORD|TOKEN|API_KEYS?|SECRET)[A-Z0-9_]*")
# `NAME=value` or `NAME: value` (compose, env files) and Dockerfile `ENV`/`ARG NAME[=value]`.
ASSIGNMENT = re.compile(rf"^\s*(?:-\s*|(?:ENV|ARG)\s+)?({SECRET_NAME.pattern})\s*[:=]\s*(.*)$")
# A value taken from the environment at run time; `:-default` would put a literal in the file.
FROM_ENVIRONMENT = re.compile(r"^\$\{[A-Z0-9_]+(?::?\?[^}]*|:-)?\}$")
# user:password@ in a URL, once ${...} references are set aside.
URL_PASSWORD = re.compile(r"://[^/\s:@]+:([^@\s]+)@")

DOCKERFILES = sorted(
    str(path.relative_to(REPO_ROOT)) for path in REPO_ROOT.glob("docker/*Dockerfile")
)
WIRING_FILES = ["compose.yaml", ".env.example", "bentofile.yaml", *DOCKERFILES]


def literal_secrets(text: str) -> list[str]:
    """The lines of `text` that write a secret's value instead of naming a variable."""
    found = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        assignment = ASSIGNMENT.match(line)
        if assignment:
            value = assignment.group(3).strip().strip("'\"")
            if value and not FROM_ENVIRONMENT.match(value):
                found.append(line.strip())
                continue
        url_password = URL_PASSWORD.search(re.sub(r"\$\{[^}]*\}", "VAR", line))
        if url_password and url_password.group(1) != "VAR":
            found.append(line.strip())
    return found


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("POSTGRES_PASSWORD: hunter2", True),
        ("- MODEL_SERVICE_TOKEN=abc123", True),
        ("ENV GATEWAY_API_KEYS=k1,k2", True),
        ("ARG DB_PASSWORD=changeme", True),
        ("POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-moviegpt}", True),
        ("- DATABASE_URL=postgresql://moviegpt:hunter2@postgres/moviegpt", True),
        ("POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set it in .env}", False),
        ("- MODEL_SERVICE_TOKEN", False),
        ("GATEWAY_API_KEYS=", False),
        (
            "- DATABASE_URL=postgresql://${USER:-moviegpt}:${POSTGRES_PASSWORD:?x}@postgres/db",
            False,
        ),
        ("# MODEL_SERVICE_TOKEN=only-an-example-in-a-comment", False),
    ],
)
def test_the_check_tells_literal_secrets_from_references(line: str, secret: bool) -> None:
    assert bool(literal_secrets(line)) is secret


@pytest.mark.parametrize("name", WIRING_FILES)
def test_wiring_files_name_secrets_but_hold_no_values(name: str) -> None:
    path = REPO_ROOT / name
    if not path.exists():
        pytest.skip(f"{name} is not in this checkout")
    assert literal_secrets(path.read_text(encoding="utf-8")) == []


def test_the_env_file_stays_out_of_git_and_of_every_image() -> None:
    ignored = {line.strip() for line in (REPO_ROOT / ".gitignore").read_text().splitlines()}
    kept_out = {line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()}
    tracked = subprocess.run(["git", "ls-files", ".env", "*.env"], cwd=REPO_ROOT,
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert ".env" in ignored
    assert {".env", ".env.*"} <= kept_out
    assert tracked == ""


def test_dockerfiles_copy_no_environment_file() -> None:
    for name in DOCKERFILES:
        copies = [line for line in (REPO_ROOT / name).read_text().splitlines()
                  if line.startswith(("COPY", "ADD"))]  # fmt: skip
        assert not [line for line in copies if ".env" in line or line.split()[1] == "."], name
