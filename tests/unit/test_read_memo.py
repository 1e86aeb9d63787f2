"""``portal.util.read_memo``: a page's repeated questions are read once while nothing
changes, and never answered from the memo after a flush, commit or rollback or while
the session holds a pending change."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from portal.util import read_memo


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "memo_row"
    id: Mapped[int] = mapped_column(primary_key=True)


@pytest.fixture
def counted():
    """A session on an in-memory database, a ``count()`` of its rows to memoize, and
    the list that grows by one each time ``count()`` really reads."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    loads = []
    with Session(engine) as session:
        def count():
            loads.append(1)
            return session.execute(text("SELECT count(*) FROM memo_row")).scalar()

        yield session, count, loads


def test_read_once_until_the_session_changes(counted):
    session, count, loads = counted
    assert read_memo(session, ("n",), count) == 0
    assert read_memo(session, ("n",), count) == 0
    assert len(loads) == 1  # the second answer came from the memo
    session.add(Row())
    assert read_memo(session, ("n",), count) == 1  # a pending change: read (its autoflush writes it)
    assert read_memo(session, ("n",), count) == 1
    assert len(loads) == 3  # the flush dropped the memo, so the next one read again
    session.commit()
    assert read_memo(session, ("n",), count) == 1
    assert len(loads) == 4
    session.rollback()
    read_memo(session, ("n",), count)
    assert len(loads) == 5


def test_an_update_delete_or_insert_run_through_the_session_drops_the_memo(counted):
    from sqlalchemy import delete, insert, update

    session, count, loads = counted
    assert read_memo(session, ("n",), count) == 0
    session.execute(insert(Row), [{"id": 1}, {"id": 2}])  # no flush: rows written directly
    assert read_memo(session, ("n",), count) == 2
    session.execute(update(Row).where(Row.id == 2).values(id=3))
    read_memo(session, ("n",), count)
    session.execute(delete(Row).where(Row.id == 1))
    assert read_memo(session, ("n",), count) == 1
    assert read_memo(session, ("n",), count) == 1
    assert len(loads) == 4  # once at first, once after each write, then from the memo
