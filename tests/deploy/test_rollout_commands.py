"""The model rollout's deploy actions as dry runs: a candidate revision with no traffic that the
gateway shadows, promotion by traffic share, rollback to the revision before, the rescore Job."""

from pathlib import Path

import pytest

from tests.deploy.test_deploy_script import commands, dry_run, option

MODEL_SERVICE = "moviegpt-model-service"


def printed(tmp_path: Path, *args: str) -> list[list[str]]:
    result = dry_run(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    return commands(result.stdout)


def gcloud_run(printed_commands: list[list[str]], *verb: str) -> list[list[str]]:
    return [c for c in printed_commands if c[: 2 + len(verb)] == ["gcloud", "run", *verb]]


def test_a_candidate_gets_a_tagged_revision_without_traffic_and_the_gateway_shadows_it(tmp_path):
    printed_commands = printed(tmp_path, "candidate", "--model-bundle", "models/korean-sentiment")

    [deploy] = gcloud_run(printed_commands, "deploy")
    assert deploy[3] == MODEL_SERVICE
    assert "--no-traffic" in deploy and option(deploy, "--tag") == "candidate"
    assert option(deploy, "--image").endswith(":candidate-test-tag")
    [build] = [c for c in printed_commands if c[:2] == ["docker", "build"]]
    assert "MODEL_BUNDLE=models/korean-sentiment" in build
    # The revision serving now is remembered as `stable`, before the candidate is deployed.
    [tag_stable] = gcloud_run(printed_commands, "services", "update-traffic")
    [update_gateway] = gcloud_run(printed_commands, "services", "update")
    assert printed_commands.index(tag_stable) < printed_commands.index(deploy)
    assert option(tag_stable, "--update-tags").startswith("stable=")
    assert update_gateway[4] == "moviegpt-gateway"
    shadow_url = option(update_gateway, "--update-env-vars")
    assert shadow_url.startswith("SHADOW_MODEL_SERVICE_URL=https://candidate---")
    # A revision of the private model service: reached with the gateway's Google ID tokens.
    assert "--update-secrets" not in update_gateway


@pytest.mark.parametrize(("args", "share", "shadow_cleared"), [
    (("promote", "--percent", "10"), "candidate=10", False),
    (("promote",), "candidate=100", True),
    (("rollback",), "stable=100", True),
])  # fmt: skip
def test_promote_shifts_traffic_and_rollback_returns_it(tmp_path, args, share, shadow_cleared):
    printed_commands = printed(tmp_path, *args)

    [traffic] = gcloud_run(printed_commands, "services", "update-traffic")
    assert (traffic[4], option(traffic, "--to-tags")) == (MODEL_SERVICE, share)
    cleared = [
        c for c in gcloud_run(printed_commands, "services", "update") if "--remove-env-vars" in c
    ]
    assert bool(cleared) == shadow_cleared
    if cleared:
        assert option(cleared[0], "--remove-env-vars") == "SHADOW_MODEL_SERVICE_URL"


def test_rescore_runs_as_a_job_of_parallel_tasks(tmp_path):
    printed_commands = printed(tmp_path, "rescore", "--tasks", "3")

    [job] = gcloud_run(printed_commands, "jobs", "deploy")
    [execute] = gcloud_run(printed_commands, "jobs", "execute")
    assert (option(job, "--tasks"), option(job, "--parallelism")) == ("3", "3")
    assert "--args=-m,gateway.rescore" in job
    assert option(job, "--image").endswith("/gateway:test-tag")
    assert option(job, "--set-secrets").startswith("DATABASE_URL=")
    assert "MODEL_SERVICE_AUTH=google-id-token" in option(job, "--set-env-vars")
    assert execute[4] == job[4] == "moviegpt-rescore"


def test_a_percent_out_of_range_is_refused(tmp_path):
    refused = dry_run(tmp_path, "promote", "--percent", "0")
    assert refused.returncode == 2
    assert "percent" in refused.stderr
