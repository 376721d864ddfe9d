"""The throwaway cluster is real PostgreSQL and takes UTF-8 Korean text."""

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.integration


def test_cluster_round_trips_korean_text(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        version = conn.execute(sa.text("select version()")).scalar_one()
        echoed = conn.execute(sa.text("select :t"), {"t": "재밌어요 ㅋㅋ"}).scalar_one()
    engine.dispose()
    assert version.startswith("PostgreSQL")
    assert echoed == "재밌어요 ㅋㅋ"
