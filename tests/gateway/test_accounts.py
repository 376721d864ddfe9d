"""Accounts and roles through the real HTTP API of a gateway on PostgreSQL: every row of the
table (anonymous, user, admin, machine key), allowed and refused; tokens that must not pass;
brute force against sign-in; no password or hash in any answer or log line."""

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, text

from stack.parts import MACHINE_HEADERS, GatewayProcess

pytestmark = pytest.mark.integration

SECRET_KEY = "accounts-test-signing-key-" + uuid.uuid4().hex
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@localhost", "first-admin-password-1"
PASSWORD = "correct horse battery"
BRUTE_FORCE_LIMIT = 3
ANONYMOUS: dict[str, str] = {}


class Recorder:
    """Every answer the module's requests got, to look for secrets in them afterwards."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        self.bodies.append(f"{response.headers}\n{response.text}")


@pytest.fixture(scope="module")
def answers() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def server(postgres, model_service_url: str) -> Iterator[GatewayProcess]:
    env = {
        "SECRET_KEY": SECRET_KEY,
        "FIRST_SUPERUSER": ADMIN_EMAIL,
        "FIRST_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
        "SIGN_IN_LIMIT_PER_ACCOUNT": f"{BRUTE_FORCE_LIMIT}/3second",
        "GATEWAY_ACCESS_LOG": "true",
    }
    database_url = postgres.create_database(f"accounts_{uuid.uuid4().hex[:8]}")
    with GatewayProcess(database_url, model_service_url, env=env) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def api(server: GatewayProcess, answers: Recorder) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, event_hooks={"response": [answers]}) as c:
        yield c


def register(api: httpx.Client, name: str, password: str = PASSWORD) -> dict:
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.org"
    body = {"email": email, "password": password, "display_name": name}
    response = api.post("/auth/register", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def sign_in(api: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return api.post("/auth/token", data={"username": email, "password": password})


def bearer(api: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = sign_in(api, email, password)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def user(api: httpx.Client) -> dict:
    account = register(api, "관객")
    return account | {"headers": bearer(api, account["email"])}


@pytest.fixture(scope="module")
def other_user(api: httpx.Client) -> dict:
    account = register(api, "다른관객")
    return account | {"headers": bearer(api, account["email"])}


@pytest.fixture(scope="module")
def admin(api: httpx.Client) -> dict[str, str]:
    return bearer(api, ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def callers(user, admin) -> dict[str, dict[str, str]]:
    return {"anonymous": ANONYMOUS, "user": user["headers"], "admin": admin, "key": MACHINE_HEADERS}


def new_movie(api: httpx.Client) -> dict:
    response = api.post("/movies/", json={"title": "살인의 추억"}, headers=MACHINE_HEADERS)
    assert response.status_code == 201, response.text
    return response.json()


def new_review(api: httpx.Client, movie_id: int, headers: dict[str, str]) -> httpx.Response:
    body = {"movie_id": movie_id, "author": "기계", "content": "다시 봐도 좋은 영화"}
    return api.post("/reviews/", json=body, headers=headers)


ROLES = ["anonymous", "user", "admin", "key"]


@pytest.mark.parametrize("role", ROLES)
def test_everyone_reads_movies_reviews_and_ratings(api, callers, role) -> None:
    movie = new_movie(api)
    review = new_review(api, movie["id"], MACHINE_HEADERS).json()
    paths = ["/movies/", f"/movies/{movie['id']}", "/reviews/", f"/reviews/{review['id']}",
             f"/reviews/movie/{movie['id']}", f"/reviews/movie/{movie['id']}/rating"]  # fmt: skip
    assert [api.get(path, headers=callers[role]).status_code for path in paths] == [200] * 6


@pytest.mark.parametrize(("role", "expected"), [("anonymous", 401), ("user", 201),
                                                ("admin", 201), ("key", 201)])  # fmt: skip
def test_writing_a_review_needs_a_signed_in_user_or_a_key(api, callers, role, expected) -> None:
    movie = new_movie(api)
    response = new_review(api, movie["id"], callers[role])

    assert response.status_code == expected, response.text
    reviews = api.get(f"/reviews/movie/{movie['id']}").json()
    assert len(reviews) == (0 if expected == 401 else 1)
    if expected == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_users_review_is_theirs_under_their_display_name(api, user) -> None:
    movie = new_movie(api)
    review = new_review(api, movie["id"], user["headers"]).json()
    # The author sent is a machine client's field: a user's review carries their own name.
    assert (review["author"], review["user_id"]) == ("관객", user["id"])
    patched = api.patch(f"/reviews/{review['id']}", json={"author": "사칭"},
                        headers=user["headers"])  # fmt: skip
    assert patched.status_code == 200
    assert patched.json()["author"] == "관객"


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
@pytest.mark.parametrize(
    ("role", "written_by", "expected"),
    [("anonymous", "user", 401), ("user", "user", 200), ("other", "user", 403),
     ("user", "key", 403), ("admin", "user", 200), ("admin", "key", 200),
     ("key", "user", 200)],
)  # fmt: skip
def test_a_review_is_changed_by_its_author_an_admin_or_a_key_only(
    api, user, other_user, admin, method, role, written_by, expected
) -> None:
    callers = {"anonymous": ANONYMOUS, "user": user["headers"], "other": other_user["headers"],
               "admin": admin, "key": MACHINE_HEADERS}  # fmt: skip
    movie = new_movie(api)
    review = new_review(api, movie["id"], callers[written_by]).json()
    body = {"content": "생각해 보니 별로였다"} if method == "PATCH" else None

    response = api.request(method, f"/reviews/{review['id']}", json=body, headers=callers[role])

    assert response.status_code == expected, response.text
    after = api.get(f"/reviews/{review['id']}")
    if expected != 200:
        assert after.json() == review
    elif method == "DELETE":
        assert after.status_code == 404
    else:
        assert after.json()["content"] == "생각해 보니 별로였다"


def test_a_stranger_learns_nothing_about_missing_reviews(api, other_user) -> None:
    assert api.delete("/reviews/2000000000").status_code == 401
    assert api.delete("/reviews/2000000000", headers=other_user["headers"]).status_code == 404


@pytest.mark.parametrize(("role", "expected"), [("anonymous", 401), ("user", 403),
                                                ("admin", 200), ("key", 200)])  # fmt: skip
def test_movies_are_added_edited_and_deleted_by_admins_and_keys_only(
    api, callers, role, expected
) -> None:
    headers = callers[role]
    created = api.post("/movies/", json={"title": "괴물"}, headers=headers)
    movie = new_movie(api)
    edited = api.patch(f"/movies/{movie['id']}", json={"genre": "스릴러"}, headers=headers)
    deleted = api.delete(f"/movies/{movie['id']}", headers=headers)

    allowed = expected == 200
    assert (created.status_code, edited.status_code, deleted.status_code) == (
        (201, 200, 200) if allowed else (expected,) * 3
    )
    if not allowed:
        assert api.get(f"/movies/{movie['id']}").json() == movie
        assert "괴물" not in [m["title"] for m in api.get("/movies/", params={"q": "괴물"}).json()]
        if expected == 403:
            assert created.json()["detail"] == "Only an admin may do this"


def forged_tokens(user_id: int) -> dict[str, str]:
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "iat": now, "exp": now + timedelta(minutes=5)}
    valid = jwt.encode(claims, SECRET_KEY, algorithm="HS256")
    header, _payload, signature = valid.split(".")
    admin_claims = jwt.encode({**claims, "sub": "1"}, "x", algorithm="HS256").split(".")[1]
    return {
        "tampered payload": f"{header}.{admin_claims}.{signature}",
        "expired": jwt.encode({**claims, "exp": now - timedelta(seconds=5)}, SECRET_KEY, "HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "wrong key": jwt.encode(claims, "another-key-of-a-decent-length-000", algorithm="HS256"),
        "no expiry": jwt.encode({"sub": str(user_id)}, SECRET_KEY, algorithm="HS256"),
        "not a token": "not-a-token",
    }


def test_a_token_signed_with_the_servers_key_passes(api, user) -> None:
    now = datetime.now(UTC)
    claims = {"sub": str(user["id"]), "exp": now + timedelta(minutes=5)}
    token = jwt.encode(claims, SECRET_KEY, algorithm="HS256")
    me = api.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert (me.status_code, me.json()["id"]) == (200, user["id"])


@pytest.mark.parametrize("kind", list(forged_tokens(1)))
def test_forged_expired_unsigned_or_foreign_tokens_get_401(api, user, kind) -> None:
    headers = {"Authorization": f"Bearer {forged_tokens(user['id'])[kind]}"}
    movie = new_movie(api)

    me = api.get("/users/me", headers=headers)
    write = new_review(api, movie["id"], headers)

    assert (me.status_code, write.status_code) == (401, 401)
    assert write.json()["detail"] == "The token is invalid or expired; sign in again"
    assert api.get(f"/reviews/movie/{movie['id']}").json() == []


def test_registration_answers_201_409_and_422_with_the_reason(api) -> None:
    account = register(api, "신규")
    assert set(account) == {"id", "email", "display_name", "is_admin", "created_at"}
    assert account["is_admin"] is False

    again = {"email": account["email"].upper(), "password": PASSWORD, "display_name": "x"}
    short = {"email": "short@example.org", "password": "123456789", "display_name": "x"}
    itself = {"email": "same@example.org", "password": "Same@Example.org", "display_name": "x"}
    taken, too_short, the_email = (
        api.post("/auth/register", json=b) for b in (again, short, itself)
    )

    assert taken.status_code == 409
    assert taken.json()["detail"] == "An account with this email exists already"
    assert too_short.status_code == 422
    assert too_short.json()["detail"] == "password: use at least 10 characters"
    assert the_email.status_code == 422
    assert the_email.json()["detail"] == "password: must not be the email address"


def test_a_wrong_email_and_a_wrong_password_get_the_same_401(api, user) -> None:
    wrong_password = sign_in(api, user["email"], "not the password")
    unknown = sign_in(api, "nobody@example.org", PASSWORD)
    assert (wrong_password.status_code, unknown.status_code) == (401, 401)
    assert wrong_password.json() == unknown.json() == {"detail": "Wrong email or password"}


def test_users_me_reads_and_changes_the_signed_in_account(api) -> None:
    account = register(api, "바꿀이름")
    headers = bearer(api, account["email"])

    assert api.get("/users/me", headers=headers).json() == account
    assert api.get("/users/me").status_code == 401
    assert api.get("/users/me", headers=MACHINE_HEADERS).status_code == 403
    renamed = api.patch("/users/me", json={"display_name": "새이름"}, headers=headers)
    assert renamed.json()["display_name"] == "새이름"
    new_password = "a brand new passphrase"
    wrong = {"password": new_password, "current_password": "not the current one"}
    assert api.patch("/users/me", json=wrong, headers=headers).status_code == 403
    assert (
        api.patch("/users/me", json={"password": new_password}, headers=headers).status_code == 422
    )
    right = {"password": new_password, "current_password": PASSWORD}
    assert api.patch("/users/me", json=right, headers=headers).status_code == 200

    assert sign_in(api, account["email"], PASSWORD).status_code == 401
    assert sign_in(api, account["email"], new_password).status_code == 200


def test_repeated_wrong_passwords_get_429_and_the_owner_signs_in_after_the_window(api) -> None:
    account = register(api, "표적")
    guesses = [sign_in(api, account["email"], f"guess number {n}") for n in range(5)]
    owner_during = sign_in(api, account["email"])

    statuses = [response.status_code for response in guesses]
    assert statuses == [401] * BRUTE_FORCE_LIMIT + [429] * (5 - BRUTE_FORCE_LIMIT)
    refused = guesses[-1]
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 3
    assert "Too many failed sign-ins" in refused.json()["detail"]
    assert owner_during.status_code == 429
    # Another account is not locked by this one's attackers.
    assert sign_in(api, ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 200

    time.sleep(retry_after)
    assert sign_in(api, account["email"]).status_code == 200


def test_the_first_admin_is_created_once(server: GatewayProcess, api) -> None:
    server.stop()
    server.env["FIRST_SUPERUSER_PASSWORD"] = "a-different-password-2"
    server.start()
    assert sign_in(api, ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 200
    assert sign_in(api, ADMIN_EMAIL, "a-different-password-2").status_code == 401
    assert api.get("/users/me", headers=bearer(api, ADMIN_EMAIL, ADMIN_PASSWORD)).json()["is_admin"]


def test_no_password_or_hash_shows_in_any_answer_or_log_line(
    server: GatewayProcess, api, answers: Recorder
) -> None:
    secret = "leak-check " + uuid.uuid4().hex
    account = register(api, "비밀", password=secret)
    bearer(api, account["email"], secret)
    sign_in(api, account["email"], secret + "x")
    api.patch("/users/me", json={"password": secret + "2", "current_password": secret},
              headers=bearer(api, account["email"], secret))  # fmt: skip
    engine = create_engine(server.env["DATABASE_URL"])
    with engine.connect() as connection:
        hashes = list(connection.execute(text("SELECT hashed_password FROM users")).scalars())
    engine.dispose()

    log = server.log_path.read_text(encoding="utf-8", errors="replace")
    assert "POST /auth/token" in log  # the access log is on: requests were logged
    for sensitive in [secret, secret + "x", secret + "2", ADMIN_PASSWORD, *hashes]:
        assert sensitive not in log
        assert not any(sensitive in body for body in answers.bodies)
    assert all(stored.startswith("$argon2") for stored in hashes)
