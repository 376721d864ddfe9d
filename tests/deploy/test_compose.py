"""compose.yaml, checked statically: services, health checks, start order, and wiring by exactly the
environment variables the parts' settings classes read."""

import os
import re
import shutil
import subprocess
from urllib.parse import urlsplit

import pytest

from scripts.deploy.cloud_run import env_names_read_by, settings_env_names
from stack.process import REPO_ROOT
from tests.support.deployment import (
    PART_SETTINGS,
    compose,
    compose_environment,
    dockerfile_of,
    final_stage,
    interpolate,
)

PARTS = sorted(PART_SETTINGS)
# Where each part listens inside its container (the images' defaults).
CONTAINER_PORTS = {"model-service": 3000, "gateway": 8000, "ui": 7860}


def services() -> dict:
    return compose()["services"]


def test_compose_runs_the_database_and_the_three_parts() -> None:
    assert set(services()) == {"postgres", *PARTS}


@pytest.mark.parametrize("name", ["postgres", *PARTS])
def test_service_has_an_image_or_a_build(name: str) -> None:
    service = services()[name]
    assert service.get("image") or service.get("build")
    if "build" in service:
        assert dockerfile_of(service).is_file()


@pytest.mark.parametrize("name", ["postgres", *PARTS])
def test_service_has_a_health_check(name: str) -> None:
    """Declared in compose, or the HEALTHCHECK of the image compose builds."""
    service = services()[name]
    if "healthcheck" in service:
        assert service["healthcheck"]["test"]
    else:
        keywords = [step.keyword for step in final_stage(dockerfile_of(service))]
        assert "HEALTHCHECK" in keywords


def test_database_keeps_its_data_in_a_named_volume_and_answers_pg_isready() -> None:
    postgres = services()["postgres"]
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose()["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


@pytest.mark.parametrize(
    ("name", "needs"),
    [("gateway", {"postgres", "model-service"}), ("ui", {"gateway"})],
)
def test_service_starts_after_what_it_needs_is_healthy(name: str, needs: set[str]) -> None:
    depends_on = services()[name]["depends_on"]
    assert set(depends_on) == needs
    assert {entry["condition"] for entry in depends_on.values()} == {"service_healthy"}


@pytest.mark.parametrize("part", PARTS)
def test_service_sets_only_variables_its_settings_read(part: str) -> None:
    environment = compose_environment(services()[part])
    assert set(environment) <= env_names_read_by(PART_SETTINGS[part])


@pytest.mark.parametrize("part", PARTS)
def test_service_reaches_every_setting_of_its_part(part: str) -> None:
    environment = compose_environment(services()[part])
    unreachable = [
        names
        for names in settings_env_names(PART_SETTINGS[part]).values()
        if not set(names) & set(environment)
    ]
    assert not unreachable


@pytest.mark.parametrize(
    ("part", "variable", "target"),
    [
        ("gateway", "DATABASE_URL", "postgres"),
        ("gateway", "MODEL_SERVICE_URL", "model-service"),
        ("ui", "GATEWAY_URL", "gateway"),
    ],
)
def test_service_is_wired_to_the_service_it_calls(part: str, variable: str, target: str) -> None:
    value = compose_environment(services()[part])[variable]
    url = urlsplit(interpolate(value, {"POSTGRES_PASSWORD": "password"}))
    assert url.hostname == target
    if target in CONTAINER_PORTS:
        assert url.port == CONTAINER_PORTS[target]


@pytest.mark.parametrize(("part", "variable"), [("gateway", "GATEWAY_PORT"), ("ui", "UI_PORT")])
def test_published_port_is_the_one_the_part_listens_on(part: str, variable: str) -> None:
    listens = int(compose_environment(services()[part])[variable])
    assert listens == CONTAINER_PORTS[part]
    assert any(port.endswith(f":{listens}") for port in services()[part]["ports"])


def test_compose_file_holds_no_secret_values() -> None:
    """Passwords and tokens come from .env or the shell: interpolated or passed through."""
    for name, service in services().items():
        for variable, value in compose_environment(service).items():
            if re.search(r"PASSWORD|TOKEN|SECRET|API_KEY", variable) and value is not None:
                assert value.startswith("${"), f"{name}: {variable} has a literal value"
    database_url = compose_environment(services()["gateway"])["DATABASE_URL"]
    assert ":${POSTGRES_PASSWORD:?" in database_url
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(database_url, {})


def test_env_example_names_every_variable_compose_requires() -> None:
    required = set(re.findall(r"\$\{(\w+):\?", (REPO_ROOT / "compose.yaml").read_text()))
    assert required
    example = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    assert {name for name in required if re.search(rf"^{name}=", example, re.MULTILINE)} == required


def _why_no_docker_compose() -> str | None:
    if shutil.which("docker") is None:
        return "no docker client installed"
    version = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if version.returncode != 0:
        return "the docker client has no compose plugin (`docker compose version` failed)"
    return None


NO_DOCKER_COMPOSE = _why_no_docker_compose()


@pytest.mark.skipif(NO_DOCKER_COMPOSE is not None, reason=str(NO_DOCKER_COMPOSE))
def test_docker_compose_accepts_the_file() -> None:
    env = {**os.environ, "POSTGRES_PASSWORD": "compose-config-check"}
    checked = subprocess.run(
        ["docker", "compose", "-f", "compose.yaml", "config", "--quiet"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    env.pop("POSTGRES_PASSWORD")
    refused = subprocess.run(
        ["docker", "compose", "-f", "compose.yaml", "--env-file", os.devnull, "config", "--quiet"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "POSTGRES_PASSWORD" in refused.stderr
