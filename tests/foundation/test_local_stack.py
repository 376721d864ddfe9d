"""`make run`'s stack (stack/local.py): a local admin with a generated password, kept in state/
and named, never printed."""

import stat

from stack import local


def test_the_local_admin_gets_a_generated_password_kept_owner_only(tmp_path, monkeypatch):
    password_file = tmp_path / "state" / "admin-password"
    monkeypatch.setattr(local, "ADMIN_PASSWORD_FILE", password_file)

    first = local.LocalStack.from_environment({}, log_dir=None)
    again = local.LocalStack.from_environment({}, log_dir=None)

    password = first.gateway.env["FIRST_SUPERUSER_PASSWORD"]
    assert first.gateway.env["FIRST_SUPERUSER"] == "admin@localhost"
    assert len(password) >= 20 and password_file.read_text().strip() == password
    assert again.gateway.env["FIRST_SUPERUSER_PASSWORD"] == password  # created once
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    hint = first.sign_in_hint()
    assert str(password_file) in hint and password not in hint


def test_the_developers_own_admin_settings_win(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "ADMIN_PASSWORD_FILE", tmp_path / "admin-password")
    environ = {"FIRST_SUPERUSER": "me@example.org", "FIRST_SUPERUSER_PASSWORD": "my own password"}

    stack = local.LocalStack.from_environment(environ, log_dir=None)

    assert stack.gateway.env["FIRST_SUPERUSER"] == "me@example.org"
    assert stack.gateway.env["FIRST_SUPERUSER_PASSWORD"] == "my own password"
    assert not (tmp_path / "admin-password").exists()
    assert "my own password" not in stack.sign_in_hint()
