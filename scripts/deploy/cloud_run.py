"""Deploy the three parts to Cloud Run: images to Artifact Registry, then the model service
(private: only the gateway's service account may invoke it), the gateway (Cloud SQL over its unix
socket, shared rate limits in Memorystore) and the UI, each pointed at the URL of the one before.

    python -m scripts.deploy.cloud_run --project my-project --dry-run

A model rollout, each step its own action (also with --dry-run):

    python -m scripts.deploy.cloud_run candidate --model-bundle DIR   # no traffic, in shadow
    python -m scripts.deploy.cloud_run promote --percent 10           # 10% of model traffic
    python -m scripts.deploy.cloud_run promote                        # 100%, shadow cleared
    python -m scripts.deploy.cloud_run rollback                       # 100% back to `stable`
    python -m scripts.deploy.cloud_run rescore --tasks 4              # a Cloud Run Job

The database (Cloud SQL) gets daily backups and point-in-time recovery at every deploy; a restore
clones it as it was at a time and points the gateway at the clone:

    python -m scripts.deploy.cloud_run restore --point-in-time 2026-11-22T01:50:00Z

Every flag --some-name defaults to the environment variable SOME_NAME, then to the value shown by
--help. Secrets never reach a command line: when DB_PASSWORD, SECRET_KEY, GATEWAY_API_KEY or
FIRST_SUPERUSER_PASSWORD is set, its value goes to Secret Manager on stdin (a new version of the
secret); when not, the secret must already exist. The services read them from Secret Manager.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, CliSettingsSource, SettingsConfigDict

from gateway.settings import Settings as GatewaySettings
from model_service.settings import Settings as ModelServiceSettings
from ui.settings import Settings as UISettings

log = logging.getLogger("deploy.cloud_run")

REPO_ROOT = Path(__file__).resolve().parents[2]
# Each part's image, built from docker/<part>.Dockerfile, and the port its container listens on.
PARTS = {"model-service": 3000, "gateway": 8000, "ui": 7860}
# Environment variables whose values, when set, become new versions of the secrets.
SECRET_VARIABLES = ("DB_PASSWORD", "SECRET_KEY", "GATEWAY_API_KEY", "FIRST_SUPERUSER_PASSWORD")
# Cloud Run's ceiling for requests in flight per instance.
CLOUD_RUN_MAX_CONCURRENCY = 1000
ACTIONS = ("deploy", "candidate", "promote", "rollback", "rescore", "restore")
# Revision tags of the model service: the candidate, and what was serving before it came.
CANDIDATE_TAG = "candidate"
STABLE_TAG = "stable"


def _default(settings_cls: type[BaseSettings], name: str) -> int:
    return settings_cls.model_fields[name].default


class DeployConfig(BaseSettings):
    """What to deploy where; each field is a flag and an environment variable of the same name
    (--some-name, SOME_NAME); the flag wins over the variable."""

    model_config = SettingsConfigDict(frozen=True, cli_kebab_case=True)

    project: str = Field("", description="Google Cloud project id (required)")
    region: str = Field("asia-northeast3", description="Cloud Run/SQL region")
    instance: str = Field("moviegpt-db", description="Cloud SQL instance name")
    repository: str = Field("movie-gpt", description="Artifact Registry repo")
    image_tag: str = Field("", description="image tag (default: git describe)")
    model_bundle: str = Field(
        "models/korean-sentiment", description="bundle baked into the model image"
    )
    service_account: str = Field(
        "", description="runtime service account email (default: the compute default account)"
    )

    db_name: str = Field("moviegpt", description="database name")
    db_user: str = Field("moviegpt", description="database user")
    # max_connections of the Cloud SQL tier (100 for 3.75-6 GB of memory, e.g. db-custom-1-3840).
    db_max_connections: int = Field(100, description="Cloud SQL max_connections")
    db_reserved_connections: int = Field(
        10, description="connections kept free for admin sessions and scripts"
    )
    database_url_secret: str = Field(
        "moviegpt-database-url", description="secret holding DATABASE_URL"
    )
    secret_key_secret: str = Field(
        "moviegpt-secret-key", description="secret: SECRET_KEY, signs the access tokens"
    )
    gateway_api_key_secret: str = Field(
        "moviegpt-gateway-api-key", description="secret: the machine clients' gateway key"
    )
    first_superuser: str = Field("", description="the first admin's email (none when empty)")
    first_superuser_password_secret: str = Field(
        "moviegpt-first-superuser-password", description="secret: FIRST_SUPERUSER_PASSWORD"
    )
    backup_start_time: str = Field(
        "18:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="daily backups start, HH:MM UTC (18:00 is 03:00 in Seoul)",
    )
    retained_backups: int = Field(8, ge=1, le=365, description="automated backups kept")
    transaction_log_days: int = Field(
        7, ge=1, le=35, description="days a restore can go back (Enterprise: 1-7, Plus: 1-35)"
    )
    point_in_time: str = Field(
        "", description="restore: when, in RFC 3339 with a zone (2026-11-22T01:50:00Z)"
    )
    redis_instance: str = Field("moviegpt-limits", description="Memorystore for rate limits")
    redis_size_gb: int = Field(1, description="Memorystore size")
    network: str = Field("default", description="VPC the gateway reaches Memorystore in")
    subnet: str = Field("default", description="subnet for the gateway's VPC egress")

    model_service_name: str = Field("moviegpt-model-service", description="service")
    model_cpu: int = Field(2, description="vCPUs per model service instance")
    model_memory: str = Field("2Gi", description="memory per model instance")
    model_min_instances: int = Field(1, description="kept warm (model load)")
    model_max_instances: int = Field(10, description="model service ceiling")
    model_service_max_batch_size: int = Field(
        _default(ModelServiceSettings, "max_batch_size"),
        description="texts per ONNX run (the model service's setting)",
    )
    model_service_workers: int = Field(
        0, description="worker processes per instance (default: one per vCPU, MODEL_CPU)"
    )
    model_concurrency: int = Field(0, description="requests per instance (default: 2 x batch size)")

    gateway_service_name: str = Field("moviegpt-gateway", description="service")
    gateway_cpu: int = Field(1, description="vCPUs per gateway instance")
    gateway_memory: str = Field("1Gi", description="memory per gateway instance")
    gateway_min_instances: int = Field(1, description="keeps the scorer running")
    gateway_max_instances: int = Field(6, description="bounded by the DB budget")
    gateway_concurrency: int = Field(40, description="requests per instance")
    db_pool_size: int = Field(
        _default(GatewaySettings, "db_pool_size"),
        description="connections each gateway instance keeps (the gateway's setting)",
    )
    db_max_overflow: int = Field(
        _default(GatewaySettings, "db_max_overflow"),
        description="extra connections under load (the gateway's setting)",
    )

    ui_service_name: str = Field("moviegpt-ui", description="service")
    ui_cpu: int = Field(1, description="vCPUs per UI instance")
    ui_memory: str = Field("1Gi", description="memory per UI instance")
    ui_min_instances: int = Field(0, description="UI floor")
    ui_max_instances: int = Field(3, description="UI ceiling")
    ui_concurrency: int = Field(80, description="requests per instance")

    percent: int = Field(100, ge=1, le=100, description="promote: model traffic to the candidate")
    tasks: int = Field(4, ge=1, le=100, description="rescore: parallel tasks of the job")
    rescore_job_name: str = Field("moviegpt-rescore", description="rescore: Cloud Run Job")

    @property
    def instance_connection_name(self) -> str:
        return f"{self.project}:{self.region}:{self.instance}"

    @property
    def registry(self) -> str:
        return f"{self.region}-docker.pkg.dev"

    def image(self, part: str) -> str:
        return f"{self.registry}/{self.project}/{self.repository}/{part}:{self.image_tag}"


class DeployError(Exception):
    """The deployment cannot go ahead; the message says why."""


@dataclass(frozen=True)
class Secret:
    """A value sent on stdin; only `shown` is ever printed."""

    value: str
    shown: str


def settings_env_names(settings_cls: type[BaseSettings]) -> dict[str, tuple[str, ...]]:
    """Field name -> the environment variable names a pydantic-settings class reads for it."""
    config = settings_cls.model_config
    prefix = config.get("env_prefix", "")
    names = {}
    for name, info in settings_cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, str):
            aliases = [alias]
        elif isinstance(alias, AliasChoices):
            aliases = [choice for choice in alias.choices if isinstance(choice, str)]
        else:
            aliases = []
        if not aliases or config.get("validate_by_name"):
            aliases.append(f"{prefix}{name}")
        names[name] = tuple(alias.upper() for alias in aliases)
    return names


def env_names_read_by(settings_cls: type[BaseSettings]) -> set[str]:
    return {name for names in settings_env_names(settings_cls).values() for name in names}


def cloud_sql_database_url(config: DeployConfig, password: str) -> str:
    """The gateway's DATABASE_URL through the Cloud SQL unix socket Cloud Run mounts."""
    return _database_url(config, quote(password, safe=""))


def _database_url(config: DeployConfig, password_in_url: str) -> str:
    return (
        f"postgresql+psycopg2://{quote(config.db_user, safe='')}:{password_in_url}"
        f"@/{config.db_name}?host=/cloudsql/{config.instance_connection_name}"
    )


def model_concurrency(config: DeployConfig) -> int:
    """Requests Cloud Run sends one model instance; also the service's own in-flight cap.

    Two batches' worth by default: one runs while the next gathers. Fewer than one batch would
    keep batches from filling; the service's cap equal to Cloud Run's means that Cloud Run scales
    out instead of the service answering 429.
    """
    concurrency = config.model_concurrency or 2 * config.model_service_max_batch_size
    if not config.model_service_max_batch_size <= concurrency <= CLOUD_RUN_MAX_CONCURRENCY:
        raise DeployError(
            f"model concurrency {concurrency} must be at least the batch size "
            f"({config.model_service_max_batch_size}) and at most {CLOUD_RUN_MAX_CONCURRENCY}"
        )
    return concurrency


def check_connection_budget(config: DeployConfig) -> str:
    """Refuses a gateway that could open more connections than Cloud SQL accepts."""
    per_instance = config.db_pool_size + config.db_max_overflow
    needed = per_instance * config.gateway_max_instances
    available = config.db_max_connections - config.db_reserved_connections
    summary = (
        f"database connections: ({config.db_pool_size} pool + {config.db_max_overflow} overflow) "
        f"x {config.gateway_max_instances} gateway instances = {needed} of {available} "
        f"({config.db_max_connections} max_connections - {config.db_reserved_connections} reserved)"
    )
    if needed > available:
        raise DeployError(
            f"{summary}: lower GATEWAY_MAX_INSTANCES, DB_POOL_SIZE or DB_MAX_OVERFLOW, or raise "
            "DB_MAX_CONNECTIONS with the instance's tier"
        )
    return summary


def check_backup_retention(config: DeployConfig) -> None:
    """Refuses fewer backups than days of transaction logs: a restore replays the logs from the
    last backup before its time, so the oldest day of logs needs a backup older still."""
    if config.retained_backups <= config.transaction_log_days:
        raise DeployError(
            f"RETAINED_BACKUPS ({config.retained_backups}) must exceed TRANSACTION_LOG_DAYS "
            f"({config.transaction_log_days}), or the oldest days could not be restored to"
        )


def restore_point(text: str, now: datetime, log_days: int) -> datetime:
    """The UTC time to restore to, from an RFC 3339 time within the last `log_days` days."""
    example = "e.g. 2026-11-22T01:50:00Z or 2026-11-22T10:50:00+09:00"
    if not text:
        raise DeployError(f"restore needs --point-in-time (POINT_IN_TIME), {example}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DeployError(f"--point-in-time {text!r} is not an RFC 3339 time, {example}") from None
    if moment.tzinfo is None:
        raise DeployError(f"--point-in-time {text!r} has no time zone: add Z (UTC) or an offset")
    moment = moment.astimezone(UTC)
    if moment > now:
        raise DeployError(f"--point-in-time {text!r} is in the future")
    if moment < now - timedelta(days=log_days):
        raise DeployError(
            f"--point-in-time {text!r} is older than the {log_days} days of transaction logs "
            "kept (TRANSACTION_LOG_DAYS); restore a backup instead (docs/reliability.md)"
        )
    return moment


def rfc3339(moment: datetime) -> str:
    """`moment` (UTC) as gcloud takes it: 2026-11-22T01:50:00.000Z."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def env_flag(env: Mapping[str, object], settings_cls: type[BaseSettings]) -> str:
    """KEY=VALUE,... for --set-env-vars/--set-secrets, every KEY one the part's settings read."""
    unknown = sorted(set(env) - env_names_read_by(settings_cls))
    if unknown:
        raise DeployError(f"{settings_cls.__module__} reads no variable named {', '.join(unknown)}")
    return ",".join(f"{key}={value}" for key, value in env.items())


def http_probe(path: str, port: int, failure_threshold: int, period_s: int = 5) -> str:
    return (
        f"httpGet.path={path},httpGet.port={port},periodSeconds={period_s},"
        f"timeoutSeconds=3,failureThreshold={failure_threshold}"
    )


class Runner:
    """Prints each command; runs it unless this is a dry run."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run

    def run(self, command: Sequence[str], stdin: Secret | None = None) -> None:
        shown = shlex.join(command) + (f" <<< {stdin.shown}" if stdin else "")
        print(f"+ {shown}", flush=True)
        if not self.dry_run:
            subprocess.run(command, check=True, text=True, input=stdin.value if stdin else None)

    def output(self, command: Sequence[str], placeholder: str) -> str:
        """The command's stdout (a dry run returns `placeholder` in its place)."""
        print(f"+ {shlex.join(command)}", flush=True)
        if self.dry_run:
            return placeholder
        return subprocess.run(command, check=True, text=True, capture_output=True).stdout.strip()

    def ensure(self, check: Sequence[str], create: Sequence[str]) -> None:
        """Runs `create` when `check` fails: `check || create`."""
        print(f"+ {shlex.join(check)} || {shlex.join(create)}", flush=True)
        if self.dry_run:
            return
        found = subprocess.run(check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if found.returncode != 0:
            subprocess.run(create, check=True)


class CloudRunDeployment:
    """The gcloud and docker commands of one deployment, in order."""

    def __init__(self, config: DeployConfig, runner: Runner) -> None:
        self.config = config
        self.runner = runner
        self.scope = ["--project", config.project]
        self.run_scope = ["--project", config.project, "--region", config.region]

    def deploy(self, secret_values: Mapping[str, str | None]) -> dict[str, str]:
        """Everything, in order; returns each service's URL."""
        concurrency = model_concurrency(self.config)
        log.info(check_connection_budget(self.config))
        check_backup_retention(self.config)
        self.enable_apis()
        self.protect_database(self.config.instance)
        self.push_images()
        self.store_secrets(secret_values)
        limits_url = self.ensure_rate_limit_store()
        model_url = self.deploy_model_service(concurrency)
        self.let_the_gateway_invoke(self.config.model_service_name)
        gateway_url = self.deploy_gateway(model_url, limits_url)
        ui_url = self.deploy_ui(gateway_url)
        return {"model-service": model_url, "gateway": gateway_url, "ui": ui_url}

    def enable_apis(self) -> None:
        apis = ("run", "artifactregistry", "sqladmin", "secretmanager", "redis")
        self.runner.run(
            [
                "gcloud",
                "services",
                "enable",
                *(f"{api}.googleapis.com" for api in apis),
                *self.scope,
            ]
        )

    def protect_database(self, instance: str) -> None:
        """Daily backups, point-in-time recovery over `transaction_log_days`, and deletion
        protection on the Cloud SQL `instance` (a patch: the same settings again change nothing)."""
        config = self.config
        self.runner.run(
            ["gcloud", "sql", "instances", "patch", instance,
             f"--backup-start-time={config.backup_start_time}",
             "--enable-point-in-time-recovery",
             f"--retained-backups-count={config.retained_backups}",
             f"--retained-transaction-log-days={config.transaction_log_days}",
             "--deletion-protection", "--quiet", *self.scope]
        )  # fmt: skip

    def push_images(self) -> None:
        config = self.config
        location = ["--location", config.region, *self.scope]
        self.runner.ensure(
            ["gcloud", "artifacts", "repositories", "describe", config.repository, *location],
            ["gcloud", "artifacts", "repositories", "create", config.repository,
             "--repository-format=docker", *location],
        )  # fmt: skip
        self.runner.run(["gcloud", "auth", "configure-docker", config.registry, "--quiet"])
        for part in PARTS:
            self._push(part, config.image(part))

    def push_model_image(self, image_tag: str) -> str:
        """The model service image with `model_bundle` baked in, pushed as `image_tag`."""
        config = self.config
        image = config.image("model-service").rsplit(":", 1)[0] + f":{image_tag}"
        self.runner.run(["gcloud", "auth", "configure-docker", config.registry, "--quiet"])
        self._push("model-service", image)
        return image

    def _push(self, part: str, image: str) -> None:
        model_bundle = ["--build-arg", f"MODEL_BUNDLE={self.config.model_bundle}"]
        self.runner.run(
            ["docker", "build", "--platform", "linux/amd64",
             "-f", f"docker/{part}.Dockerfile", "-t", image,
             *(model_bundle if part == "model-service" else []), "."]
        )  # fmt: skip
        self.runner.run(["docker", "push", image])

    def store_secrets(self, values: Mapping[str, str | None]) -> None:
        """New secret versions from the values given (DB_PASSWORD, SECRET_KEY, GATEWAY_API_KEY,
        FIRST_SUPERUSER_PASSWORD with FIRST_SUPERUSER); a secret without a value must exist."""
        config = self.config
        password = values.get("DB_PASSWORD")
        database_url = None
        if password:
            database_url = Secret(
                cloud_sql_database_url(config, password),
                shown=_database_url(config, "${DB_PASSWORD}"),
            )
        self._store_secret(config.database_url_secret, database_url)
        named = [
            (config.secret_key_secret, "SECRET_KEY"),
            (config.gateway_api_key_secret, "GATEWAY_API_KEY"),
        ]
        if config.first_superuser:
            named.append((config.first_superuser_password_secret, "FIRST_SUPERUSER_PASSWORD"))
        for name, variable in named:
            value = values.get(variable)
            self._store_secret(name, Secret(value, shown=f"${{{variable}}}") if value else None)

    def _store_secret(self, name: str, secret: Secret | None) -> None:
        if secret is None:
            self.runner.run(
                ["gcloud", "secrets", "versions", "describe", "latest", "--secret", name,
                 *self.scope]
            )  # fmt: skip
            return
        self.runner.ensure(
            ["gcloud", "secrets", "describe", name, *self.scope],
            ["gcloud", "secrets", "create", name, "--replication-policy=automatic", *self.scope],
        )
        self.runner.run(
            ["gcloud", "secrets", "versions", "add", name, "--data-file=-", *self.scope],
            stdin=secret,
        )

    def ensure_rate_limit_store(self) -> str:
        """A Memorystore Redis the gateway instances share their rate limits through; its URL."""
        config = self.config
        where = ["--region", config.region, *self.scope]
        self.runner.ensure(
            ["gcloud", "redis", "instances", "describe", config.redis_instance, *where],
            ["gcloud", "redis", "instances", "create", config.redis_instance,
             "--size", str(config.redis_size_gb), "--tier=basic", "--network", config.network,
             *where],
        )  # fmt: skip
        host = self.runner.output(
            ["gcloud", "redis", "instances", "describe", config.redis_instance,
             "--format=value(host)", *where],
            placeholder=f"<host of {config.redis_instance}>",
        )  # fmt: skip
        return f"redis://{host}:6379"

    def runtime_account(self) -> str:
        """The services' identity: SERVICE_ACCOUNT, else the project's compute default account."""
        if self.config.service_account:
            return self.config.service_account
        number = self.runner.output(
            [
                "gcloud",
                "projects",
                "describe",
                self.config.project,
                "--format=value(projectNumber)",
            ],
            placeholder="<project number>",
        )
        return f"{number}-compute@developer.gserviceaccount.com"

    def let_the_gateway_invoke(self, service: str) -> None:
        """roles/run.invoker on the private service for the account the gateway runs as."""
        self.runner.run(
            ["gcloud", "run", "services", "add-iam-policy-binding", service,
             f"--member=serviceAccount:{self.runtime_account()}", "--role=roles/run.invoker",
             *self.run_scope]
        )  # fmt: skip

    def _deploy(
        self,
        name: str,
        part: str,
        sizing: list[str],
        extra: list[str],
        *,
        public: bool = True,
        image: str | None = None,
    ) -> str:
        config = self.config
        account = ["--service-account", config.service_account] if config.service_account else []
        access = "--allow-unauthenticated" if public else "--no-allow-unauthenticated"
        self.runner.run(
            ["gcloud", "run", "deploy", name, "--image", image or config.image(part),
             "--port", str(PARTS[part]), *sizing, access, *account, *extra, *self.run_scope]
        )  # fmt: skip
        return self.runner.output(
            ["gcloud", "run", "services", "describe", name, "--format=value(status.url)",
             *self.run_scope],
            placeholder=f"<status.url of {name}>",
        )  # fmt: skip

    @staticmethod
    def _sizing(cpu: int, memory: str, concurrency: int, min_n: int, max_n: int) -> list[str]:
        return ["--cpu", str(cpu), "--memory", memory, "--concurrency", str(concurrency),
                "--min-instances", str(min_n), "--max-instances", str(max_n)]  # fmt: skip

    def deploy_model_service(
        self, concurrency: int, image: str | None = None, revision: Sequence[str] = ()
    ) -> str:
        config = self.config
        port = PARTS["model-service"]
        workers = config.model_service_workers or config.model_cpu
        env = {
            "MODEL_SERVICE_MAX_BATCH_SIZE": config.model_service_max_batch_size,
            "MODEL_SERVICE_MAX_CONCURRENCY": concurrency,
            # Explicit, like the threads: the service would count the host's cores, not the
            # instance's vCPUs, if its CPU quota is not visible in the container.
            "MODEL_SERVICE_WORKERS": workers,
            "MODEL_SERVICE_INTRA_OP_THREADS": max(1, config.model_cpu // workers),
        }
        sizing = self._sizing(config.model_cpu, config.model_memory, concurrency,
                              config.model_min_instances, config.model_max_instances)  # fmt: skip
        # Private: Cloud Run's front end lets in only callers with roles/run.invoker (the
        # gateway, with a Google ID token), so the service needs no token of its own here.
        return self._deploy(config.model_service_name, "model-service", sizing, [
            "--cpu-boost",
            "--set-env-vars", env_flag(env, ModelServiceSettings),
            "--startup-probe", http_probe("/readyz", port, failure_threshold=24),
            "--liveness-probe", http_probe("/livez", port, failure_threshold=3, period_s=15),
            *revision,
        ], public=False, image=image)  # fmt: skip

    def deploy_gateway(self, model_service_url: str, rate_limit_storage_url: str) -> str:
        config = self.config
        env: dict[str, object] = {
            "MODEL_SERVICE_URL": model_service_url,
            "MODEL_SERVICE_AUTH": "google-id-token",
            "RATE_LIMIT_STORAGE_URL": rate_limit_storage_url,
            "DB_POOL_SIZE": config.db_pool_size,
            "DB_MAX_OVERFLOW": config.db_max_overflow,
            # Requests reach the container only through Google's front end, which sets
            # X-Forwarded-For: the sign-in limit then counts real clients, not the front end.
            "GATEWAY_TRUSTED_PROXIES": "*",
        }
        secrets = {
            "DATABASE_URL": f"{config.database_url_secret}:latest",
            "SECRET_KEY": f"{config.secret_key_secret}:latest",
            # Machine clients' key (people sign in for tokens instead).
            "GATEWAY_API_KEYS": f"{config.gateway_api_key_secret}:latest",
        }
        if config.first_superuser:
            env["FIRST_SUPERUSER"] = config.first_superuser
            secrets["FIRST_SUPERUSER_PASSWORD"] = f"{config.first_superuser_password_secret}:latest"
        sizing = self._sizing(config.gateway_cpu, config.gateway_memory,
                              config.gateway_concurrency, config.gateway_min_instances,
                              config.gateway_max_instances)  # fmt: skip
        return self._deploy(config.gateway_service_name, "gateway", sizing, [
            # The background scorer works between requests: CPU must not be throttled then.
            "--no-cpu-throttling",
            "--add-cloudsql-instances", config.instance_connection_name,
            # Direct VPC egress, private ranges only: Memorystore is reachable, the rest as before.
            "--network", config.network, "--subnet", config.subnet,
            "--vpc-egress=private-ranges-only",
            "--set-env-vars", env_flag(env, GatewaySettings),
            "--set-secrets", env_flag(secrets, GatewaySettings),
            # Serving starts after the migrations; /health then answers.
            "--startup-probe", http_probe("/health", PARTS["gateway"], failure_threshold=24),
        ])  # fmt: skip

    def deploy_ui(self, gateway_url: str) -> str:
        config = self.config
        sizing = self._sizing(config.ui_cpu, config.ui_memory, config.ui_concurrency,
                              config.ui_min_instances, config.ui_max_instances)  # fmt: skip
        return self._deploy(config.ui_service_name, "ui", sizing, [
            # A Gradio session's queue and event stream live in one instance.
            "--session-affinity",
            # No key: each visitor's writes carry their own sign-in token.
            "--set-env-vars", env_flag({"GATEWAY_URL": gateway_url}, UISettings),
        ])  # fmt: skip


class ModelRollout(CloudRunDeployment):
    """A candidate model service revision beside the live one, then its promotion or rollback,
    and the rescore of old reviews as a Cloud Run Job."""

    def candidate(self) -> str:
        """Deploy the candidate bundle as a tagged revision with no traffic; the gateway shadows
        it. The revision serving now is tagged `stable`, where a rollback returns."""
        config = self.config
        serving = self.runner.output(
            ["gcloud", "run", "services", "describe", config.model_service_name,
             "--format=value(status.latestReadyRevisionName)", *self.run_scope],
            placeholder="<latest ready revision>",
        )  # fmt: skip
        self.update_traffic(["--update-tags", f"{STABLE_TAG}={serving}"])
        image = self.push_model_image(f"{CANDIDATE_TAG}-{config.image_tag}")
        model_url = self.deploy_model_service(
            model_concurrency(config),
            image=image,
            revision=["--no-traffic", "--tag", CANDIDATE_TAG],
        )
        candidate_url = tagged_url(model_url, CANDIDATE_TAG)
        # The candidate is a revision of the private model service: the gateway reaches it with
        # the same Google ID tokens (MODEL_SERVICE_AUTH) it sends the live one.
        self.update_gateway(
            ["--update-env-vars",
             env_flag({"SHADOW_MODEL_SERVICE_URL": candidate_url}, GatewaySettings)]
        )  # fmt: skip
        return candidate_url

    def promote(self) -> None:
        """`percent` of the model service's traffic to the candidate; at 100 the shadow ends."""
        self.update_traffic(["--to-tags", f"{CANDIDATE_TAG}={self.config.percent}"])
        if self.config.percent == 100:
            self.clear_shadow()

    def rollback(self) -> None:
        """All the model service's traffic back to the revision that served before the candidate."""
        self.update_traffic(["--to-tags", f"{STABLE_TAG}=100"])
        self.clear_shadow()

    def rescore(self) -> None:
        """Rescore what the old model scored: `tasks` copies of `gateway.rescore` as one Job."""
        config = self.config
        model_url = self.runner.output(
            ["gcloud", "run", "services", "describe", config.model_service_name,
             "--format=value(status.url)", *self.run_scope],
            placeholder=f"<status.url of {config.model_service_name}>",
        )  # fmt: skip
        account = ["--service-account", config.service_account] if config.service_account else []
        secrets = {"DATABASE_URL": f"{config.database_url_secret}:latest"}
        env = {"MODEL_SERVICE_URL": model_url, "MODEL_SERVICE_AUTH": "google-id-token"}
        self.runner.run(
            ["gcloud", "run", "jobs", "deploy", config.rescore_job_name,
             "--image", config.image("gateway"), "--command", "python",
             "--args=-m,gateway.rescore",
             # Claims split the work between tasks; a task that dies leaves its claims to lapse.
             "--tasks", str(config.tasks), "--parallelism", str(config.tasks),
             "--max-retries", "3", "--task-timeout", "3600s",
             "--set-cloudsql-instances", config.instance_connection_name,
             "--set-env-vars", env_flag(env, GatewaySettings),
             "--set-secrets", env_flag(secrets, GatewaySettings), *account, *self.run_scope]
        )  # fmt: skip
        self.runner.run(
            ["gcloud", "run", "jobs", "execute", config.rescore_job_name, "--wait", *self.run_scope]
        )

    def update_traffic(self, change: list[str]) -> None:
        self.runner.run(
            ["gcloud", "run", "services", "update-traffic", self.config.model_service_name,
             *change, *self.run_scope]
        )  # fmt: skip

    def update_gateway(self, change: list[str]) -> None:
        self.runner.run(
            ["gcloud", "run", "services", "update", self.config.gateway_service_name, *change,
             *self.run_scope]
        )  # fmt: skip

    def clear_shadow(self) -> None:
        self.update_gateway(["--remove-env-vars", "SHADOW_MODEL_SERVICE_URL"])


class DatabaseRestore(CloudRunDeployment):
    """The database as it was at `point_in_time`: a clone of the instance, protected like it,
    the gateway's DATABASE_URL and Cloud SQL connection moved to the clone. The source instance
    is left as it is, with what was written after that time."""

    def restore(self, db_password: str | None, now: datetime) -> DeployConfig:
        """Runs the restore; returns the configuration that names the restored instance."""
        config = self.config
        check_backup_retention(config)
        moment = restore_point(config.point_in_time, now, config.transaction_log_days)
        if not db_password and not self.runner.dry_run:
            raise DeployError(
                "restore: set DB_PASSWORD (the database user's; the clone keeps the users) "
                "to write the restored instance's DATABASE_URL"
            )
        clone = f"{config.instance}-{moment:%Y%m%d-%H%M%S}"
        restored = config.model_copy(update={"instance": clone})
        self.runner.run(
            ["gcloud", "sql", "instances", "clone", config.instance, restored.instance,
             f"--point-in-time={rfc3339(moment)}", *self.scope]
        )  # fmt: skip
        self.protect_database(restored.instance)
        url = Secret(
            cloud_sql_database_url(restored, db_password or ""),
            shown=_database_url(restored, "${DB_PASSWORD}"),
        )
        self._store_secret(config.database_url_secret, url)
        # A new revision: its instances mount the clone's socket and read the new secret version.
        self.runner.run(
            ["gcloud", "run", "services", "update", config.gateway_service_name,
             "--set-cloudsql-instances", restored.instance_connection_name, *self.run_scope]
        )  # fmt: skip
        return restored


def restore_instructions(config: DeployConfig) -> str:
    return (
        f"{config.instance}: daily backups from {config.backup_start_time} UTC, "
        f"{config.retained_backups} kept; point-in-time recovery over the last "
        f"{config.transaction_log_days} days. To restore to a time: python -m "
        "scripts.deploy.cloud_run restore --point-in-time 2026-11-22T01:50:00Z (--dry-run "
        "prints the steps; docs/reliability.md, restore drill)"
    )


def tagged_url(service_url: str, tag: str) -> str:
    """The URL Cloud Run gives a revision tag: https://TAG---<the service's host>."""
    if "://" not in service_url:  # a dry run's placeholder
        return f"https://{tag}---<host of {service_url}>"
    scheme, host = service_url.split("://", 1)
    return f"{scheme}://{tag}---{host}"


def git_image_tag() -> str:
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=REPO_ROOT, check=True, capture_output=True, text=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as error:
        raise DeployError(f"no image tag: set IMAGE_TAG (git describe failed: {error})") from error
    return described.stdout.strip()


def parse_config(argv: Sequence[str] | None) -> tuple[DeployConfig, bool, str]:
    """The config from flags over environment variables over defaults, whether to dry-run, and
    the action."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.deploy.cloud_run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run none")
    parser.add_argument(
        "action", nargs="?", choices=ACTIONS, default="deploy", help="what to do (default: deploy)"
    )
    flags = CliSettingsSource(DeployConfig, root_parser=parser)
    args = parser.parse_args(argv)
    try:
        config = DeployConfig(_cli_settings_source=flags(parsed_args=args))
    except ValidationError as error:
        parser.error(str(error))
    if not config.project:
        parser.error("set the project: --project or PROJECT")
    if not config.image_tag:
        config = config.model_copy(update={"image_tag": git_image_tag()})
    return config, args.dry_run, args.action


def run_rollout(rollout: ModelRollout, action: str) -> int:
    if action == "candidate":
        log.info("candidate in shadow at %s", rollout.candidate())
    else:
        getattr(rollout, action)()
    return 0


def run_restore(restore: DatabaseRestore) -> int:
    restored = restore.restore(os.environ.get("DB_PASSWORD"), datetime.now(UTC))
    log.info(
        "the gateway now uses %s; give INSTANCE=%s to every later deploy, candidate and rescore. "
        "%s still holds what was written after the restore point; once it is not needed: "
        "gcloud sql instances patch %s --no-deletion-protection, then gcloud sql instances delete",
        restored.instance, restored.instance, restore.config.instance, restore.config.instance,
    )  # fmt: skip
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)
    try:
        config, dry_run, action = parse_config(argv)
        if (
            action in ("deploy", "candidate")
            and not (REPO_ROOT / config.model_bundle / "card.json").is_file()
        ):
            message = f"{config.model_bundle} holds no model bundle (card.json)"
            if not dry_run:
                raise DeployError(message)
            log.warning("%s: the model image build would fail", message)
        os.chdir(REPO_ROOT)  # docker builds from the repository root
        if action == "restore":
            return run_restore(DatabaseRestore(config, Runner(dry_run)))
        if action != "deploy":
            return run_rollout(ModelRollout(config, Runner(dry_run)), action)
        secret_values = {name: os.environ.get(name) for name in SECRET_VARIABLES}
        urls = CloudRunDeployment(config, Runner(dry_run)).deploy(secret_values)
    except DeployError as error:
        log.error("%s", error)
        return 2
    except subprocess.CalledProcessError as error:
        log.error("command failed (exit %s): %s", error.returncode, shlex.join(error.cmd))
        return 1
    for part, url in urls.items():
        log.info("%s: %s", part, url)
    log.info("%s", restore_instructions(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
