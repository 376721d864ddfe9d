"""scripts/deploy/cloud_run.py: its --dry-run prints the whole deployment, runs nothing, needs no
gcloud, and never prints a secret; the wiring it deploys is the settings classes' own."""

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from scripts.deploy.cloud_run import DeployConfig, cloud_sql_database_url, settings_env_names
from stack.process import REPO_ROOT
from tests.support.deployment import PART_SETTINGS

PROJECT = "movie-gpt-test"
# The defaults the script deploys with when no flag or variable says otherwise.
DEFAULTS = DeployConfig.model_construct()
FAKE_SECRETS = {
    "DB_PASSWORD": "fake-db-password-7Qz9",
    "SECRET_KEY": "fake-signing-key-2Rt6",
    "GATEWAY_API_KEY": "fake-gateway-key-8Jm5",
    "FIRST_SUPERUSER_PASSWORD": "fake-admin-password-5Vx1",
}
ADMIN = "admin@moviegpt.example"
SERVICES = {
    "moviegpt-model-service": "model-service",
    "moviegpt-gateway": "gateway",
    "moviegpt-ui": "ui",
}


def dry_run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The script with an empty PATH: any gcloud or docker it tried to run would fail."""
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir(exist_ok=True)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.deploy.cloud_run",
            *args,
            "--project",
            PROJECT,
            "--dry-run",
        ],
        cwd=REPO_ROOT,
        env={"PATH": str(empty_bin), "HOME": str(tmp_path), "IMAGE_TAG": "test-tag", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def commands(output: str) -> list[list[str]]:
    """The printed commands, `a || b` split in two, a `<<< stdin` note dropped."""
    result = []
    for line in output.splitlines():
        assert line.startswith("+ "), f"not a command: {line}"
        for command in line[2:].split(" || "):
            result.append(shlex.split(command.split(" <<< ")[0]))
    return result


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def deploys(printed: list[list[str]]) -> dict[str, list[str]]:
    return {cmd[3]: cmd for cmd in printed if cmd[:3] == ["gcloud", "run", "deploy"]}


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    result = dry_run(tmp_path_factory.mktemp("dry-run"), FIRST_SUPERUSER=ADMIN, **FAKE_SECRETS)
    assert result.returncode == 0, result.stderr
    return result


def test_dry_run_prints_only_gcloud_and_docker_commands(printed) -> None:
    printed_commands = commands(printed.stdout)
    assert {command[0] for command in printed_commands} == {"gcloud", "docker"}


def test_dry_run_builds_and_pushes_each_image_to_artifact_registry(printed) -> None:
    printed_commands = commands(printed.stdout)
    registry = f"{DEFAULTS.region}-docker.pkg.dev/{PROJECT}/"
    pushed = {cmd[2] for cmd in printed_commands if cmd[:2] == ["docker", "push"]}
    built = {option(cmd, "-t") for cmd in printed_commands if cmd[:2] == ["docker", "build"]}
    assert built == pushed
    assert len(pushed) == 3
    assert all(image.startswith(registry) and image.endswith(":test-tag") for image in pushed)


def test_dry_run_deploys_the_three_services(printed) -> None:
    deployed = deploys(commands(printed.stdout))
    assert set(deployed) == set(SERVICES)
    for name, command in deployed.items():
        assert option(command, "--image").split("/")[-1].startswith(f"{SERVICES[name]}:")


def test_gateway_reaches_cloud_sql_with_its_url_from_secret_manager(printed) -> None:
    gateway = deploys(commands(printed.stdout))["moviegpt-gateway"]
    instance = f"{PROJECT}:{DEFAULTS.region}:{DEFAULTS.instance}"
    assert option(gateway, "--add-cloudsql-instances") == instance
    secrets = dict(pair.split("=") for pair in option(gateway, "--set-secrets").split(","))
    assert secrets["DATABASE_URL"] == f"{DEFAULTS.database_url_secret}:latest"
    assert f"@/{DEFAULTS.db_name}?host=/cloudsql/{instance}" in printed.stdout


def test_dry_run_prints_no_secret_value(printed) -> None:
    for value in FAKE_SECRETS.values():
        assert value not in printed.stdout
        assert value not in printed.stderr
    # The secrets are named, and their values shown as the variables they come from.
    for name in (DEFAULTS.secret_key_secret, DEFAULTS.gateway_api_key_secret,
                 DEFAULTS.first_superuser_password_secret):  # fmt: skip
        assert f"versions add {name} --data-file=-" in printed.stdout
    assert "${SECRET_KEY}" in printed.stdout


def test_services_get_only_variables_their_settings_read(printed) -> None:
    for name, command in deploys(commands(printed.stdout)).items():
        settings_cls = PART_SETTINGS[SERVICES[name]]
        readable = {n for names in settings_env_names(settings_cls).values() for n in names}
        for flag in ("--set-env-vars", "--set-secrets"):
            if flag in command:
                variables = {pair.split("=")[0] for pair in option(command, flag).split(",")}
                assert variables <= readable, (name, variables - readable)


def test_each_service_reads_the_url_of_the_one_it_calls(printed) -> None:
    printed_commands = commands(printed.stdout)
    deployed = deploys(printed_commands)
    gateway_env = option(deployed["moviegpt-gateway"], "--set-env-vars")
    ui_env = option(deployed["moviegpt-ui"], "--set-env-vars")
    assert "MODEL_SERVICE_URL=<status.url of moviegpt-model-service>" in gateway_env
    assert "GATEWAY_URL=<status.url of moviegpt-gateway>" in ui_env

    def position(*words: str) -> int:
        return next(i for i, cmd in enumerate(printed_commands) if cmd[: len(words)] == [*words])

    # Each URL is read back after its service is deployed and before the next one needs it.
    for called, caller in (("moviegpt-model-service", "moviegpt-gateway"),
                           ("moviegpt-gateway", "moviegpt-ui")):  # fmt: skip
        deployed_at = position("gcloud", "run", "deploy", called)
        read_at = position("gcloud", "run", "services", "describe", called)
        assert deployed_at < read_at < position("gcloud", "run", "deploy", caller)


def test_model_service_concurrency_matches_its_batching(printed) -> None:
    model = deploys(commands(printed.stdout))["moviegpt-model-service"]
    env = dict(pair.split("=") for pair in option(model, "--set-env-vars").split(","))
    concurrency = int(option(model, "--concurrency"))
    assert int(env["MODEL_SERVICE_MAX_CONCURRENCY"]) == concurrency
    assert concurrency >= int(env["MODEL_SERVICE_MAX_BATCH_SIZE"])
    workers, threads = int(env["MODEL_SERVICE_WORKERS"]), int(env["MODEL_SERVICE_INTRA_OP_THREADS"])
    assert workers * threads <= int(option(model, "--cpu"))


def test_gateway_pools_within_the_connection_budget(printed) -> None:
    gateway = deploys(commands(printed.stdout))["moviegpt-gateway"]
    env = dict(pair.split("=", 1) for pair in option(gateway, "--set-env-vars").split(","))
    per_instance = int(env["DB_POOL_SIZE"]) + int(env["DB_MAX_OVERFLOW"])
    assert per_instance * int(option(gateway, "--max-instances")) <= DEFAULTS.db_max_connections


def test_deploy_refuses_more_connections_than_cloud_sql_accepts(tmp_path: Path) -> None:
    refused = dry_run(tmp_path, GATEWAY_MAX_INSTANCES="50")
    assert refused.returncode == 2
    assert "GATEWAY_MAX_INSTANCES" in refused.stderr
    assert refused.stdout == ""  # refused before the first command


def test_deploy_refuses_a_concurrency_below_the_batch_size(tmp_path: Path) -> None:
    refused = dry_run(tmp_path, MODEL_CONCURRENCY="8", MODEL_SERVICE_MAX_BATCH_SIZE="64")
    assert refused.returncode == 2
    assert "batch size" in refused.stderr


def test_flags_override_the_environment(tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "scripts.deploy.cloud_run", "--project", PROJECT, "--dry-run",
         "--region", "europe-west1"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": str(empty_bin), "IMAGE_TAG": "t", "REGION": "us-central1",
             "INSTANCE": "other-db"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    gateway = deploys(commands(result.stdout))["moviegpt-gateway"]
    assert option(gateway, "--region") == "europe-west1"
    assert option(gateway, "--add-cloudsql-instances") == f"{PROJECT}:europe-west1:other-db"


def test_database_url_survives_any_password() -> None:
    config = DeployConfig(project="p", region="r", instance="i", db_user="app", db_name="reviews")
    password = "p@ss/w:rd?#&%"
    url = make_url(cloud_sql_database_url(config, password))
    assert (url.username, url.password, url.database) == ("app", password, "reviews")
    assert url.host is None
    assert url.query["host"] == "/cloudsql/p:r:i"


class _Sample(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAMPLE_", validate_by_name=True)

    plain: str = "default"
    aliased: str = Field("default", validation_alias="SAMPLE_OTHER_NAME")
    either: str = Field("default", validation_alias=AliasChoices("FIRST_CHOICE", "SECOND_CHOICE"))


def test_settings_env_names_are_the_names_pydantic_settings_reads(monkeypatch) -> None:
    names = settings_env_names(_Sample)
    assert set(names) == set(_Sample.model_fields)
    for field, variables in names.items():
        for variable in variables:
            with monkeypatch.context() as env:
                env.setenv(variable, f"from {variable}")
                assert getattr(_Sample(), field) == f"from {variable}"


def secrets_of(command: list[str]) -> dict[str, str]:
    return dict(pair.split("=") for pair in option(command, "--set-secrets").split(","))


def env_of(command: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in option(command, "--set-env-vars").split(","))


def test_the_model_service_is_private_and_only_the_gateways_account_may_invoke_it(printed) -> None:
    printed_commands = commands(printed.stdout)
    deployed = deploys(printed_commands)
    model = deployed["moviegpt-model-service"]
    assert "--no-allow-unauthenticated" in model and "--allow-unauthenticated" not in model
    assert "--set-secrets" not in model  # no static token: IAM lets the gateway in
    assert "--allow-unauthenticated" in deployed["moviegpt-gateway"]
    [binding] = [cmd for cmd in printed_commands if cmd[3:4] == ["add-iam-policy-binding"]]
    assert binding[4] == "moviegpt-model-service" and "--role=roles/run.invoker" in binding
    account = "<project number>-compute@developer.gserviceaccount.com"
    assert f"--member=serviceAccount:{account}" in binding
    assert env_of(deployed["moviegpt-gateway"])["MODEL_SERVICE_AUTH"] == "google-id-token"


def test_the_gateway_signs_tokens_with_a_key_from_secret_manager_and_has_a_first_admin(
    printed,
) -> None:
    gateway = deploys(commands(printed.stdout))["moviegpt-gateway"]
    secrets = secrets_of(gateway)
    assert secrets["SECRET_KEY"] == f"{DEFAULTS.secret_key_secret}:latest"
    assert (
        secrets["FIRST_SUPERUSER_PASSWORD"] == f"{DEFAULTS.first_superuser_password_secret}:latest"
    )
    assert env_of(gateway)["FIRST_SUPERUSER"] == ADMIN
    assert "MODEL_SERVICE_TOKEN" not in secrets


def test_gateway_instances_share_their_rate_limits_in_memorystore(printed) -> None:
    printed_commands = commands(printed.stdout)
    gateway = deploys(printed_commands)["moviegpt-gateway"]
    host = f"<host of {DEFAULTS.redis_instance}>"
    assert env_of(gateway)["RATE_LIMIT_STORAGE_URL"] == f"redis://{host}:6379"
    assert option(gateway, "--network") == DEFAULTS.network
    assert "--vpc-egress=private-ranges-only" in gateway
    assert ["gcloud", "redis", "instances", "create", DEFAULTS.redis_instance] in [
        cmd[:5] for cmd in printed_commands
    ]


def test_the_ui_holds_no_gateway_key(printed) -> None:
    ui = deploys(commands(printed.stdout))["moviegpt-ui"]
    assert "--set-secrets" not in ui
    assert FAKE_SECRETS["GATEWAY_API_KEY"] not in " ".join(ui)
