"""Row locks on the publishing path, written once.

PostgreSQL locks the rows read (``FOR UPDATE``; ``SKIP LOCKED`` passes by rows another claimer
holds). SQLite needs no lock here: ``BEGIN IMMEDIATE`` lets one writer in at a time, and the
conditional ``UPDATE … WHERE status …`` that follows a read only takes rows still as they were.
"""

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from schedule_service.models import Post


def locking(session: Session, query: Select, *, skip_locked: bool = False) -> Select:
    """``query`` locking the rows it reads until the commit, on PostgreSQL; as it is on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=skip_locked)
    return query


def lock_posts(session: Session, ids) -> None:
    """Lock the posts' rows until the commit, on PostgreSQL; nothing to do on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(locking(session, select(Post.id).where(Post.id.in_(ids))))


def locked_post(session: Session, post_id: int) -> Post | None:
    """The post, re-read, with its row locked on PostgreSQL until the commit."""
    lock_posts(session, [post_id])
    return session.get(Post, post_id, populate_existing=True)
