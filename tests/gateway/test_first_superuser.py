"""The first admin from FIRST_SUPERUSER / FIRST_SUPERUSER_PASSWORD: created once, as an admin,
and a password too weak to use refused at start without the password in the message."""

import pytest
from sqlalchemy import select

from gateway.users import service as user_service
from gateway.users.models import User


def test_the_first_admin_is_created_once_and_is_an_admin(session_factory) -> None:
    with session_factory() as session:
        session.execute(User.__table__.delete())
        session.commit()
        user_service.ensure_first_superuser(
            session=session, email="Admin@Localhost", password="first password 1"
        )
        user_service.ensure_first_superuser(
            session=session, email="admin@localhost", password="second password 2"
        )
        [admin] = session.scalars(select(User)).all()
        assert (admin.email, admin.is_admin) == ("admin@localhost", True)
        assert user_service.authenticate(
            session=session, email="admin@localhost", password="first password 1"
        )


def test_a_weak_first_admin_password_is_refused_without_being_shown(session_factory) -> None:
    with session_factory() as session, pytest.raises(ValueError) as refused:
        user_service.ensure_first_superuser(
            session=session, email="weak@localhost", password="hunter2"
        )
    assert "use at least 10 characters" in str(refused.value)
    assert "hunter2" not in str(refused.value)
