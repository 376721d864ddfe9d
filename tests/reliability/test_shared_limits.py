"""Two gateway processes that count against one limit in a real Redis (RATE_LIMIT_STORAGE_URL):
a caller cannot double its writes or its password guesses by reaching another instance."""

import uuid

import httpx
import pytest

from stack.parts import MACHINE_HEADERS, GatewayProcess
from stack.ports import free_port
from stack.redis import ThrowawayRedis

pytestmark = pytest.mark.integration


def test_two_gateways_share_the_write_and_sign_in_limits_through_redis(postgres) -> None:
    database_url = postgres.create_database(f"shared_{uuid.uuid4().hex[:8]}")
    nothing_listens = f"http://127.0.0.1:{free_port()}"
    with ThrowawayRedis() as store:
        env = {"RATE_LIMIT_STORAGE_URL": store.url, "GATEWAY_WRITE_LIMIT": "3/minute",
               "SIGN_IN_LIMIT_PER_ACCOUNT": "2/minute", "SCORER_ENABLED": "false"}  # fmt: skip
        with (
            GatewayProcess(database_url, nothing_listens, env=env) as first,
            GatewayProcess(database_url, nothing_listens, env=env) as second,
        ):
            writes = [
                httpx.post(f"{gateway.url}/movies/", json={"title": "t"}, headers=MACHINE_HEADERS)
                for gateway in (first, second, first, second)
            ]
            account = {"email": "shared@example.org", "password": "a long passphrase",
                       "display_name": "x"}  # fmt: skip
            assert httpx.post(f"{first.url}/auth/register", json=account).status_code == 201
            guesses = [
                httpx.post(f"{gateway.url}/auth/token",
                           data={"username": account["email"], "password": "wrong guess"})
                for gateway in (first, second, first)
            ]  # fmt: skip

    assert [response.status_code for response in writes] == [201, 201, 201, 429]
    assert "Retry-After" in writes[-1].headers
    assert [response.status_code for response in guesses] == [401, 401, 429]
