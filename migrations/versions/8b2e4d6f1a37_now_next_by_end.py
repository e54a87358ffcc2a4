"""now/next reads one index entry pair per channel: scheduled slots indexed by their end

Revision ID: 8b2e4d6f1a37
Revises: 3f1a7c2d9b40
Create Date: 2026-11-27 20:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8b2e4d6f1a37'
down_revision = '3f1a7c2d9b40'
branch_labels = None
depends_on = None


def _scheduled_by(column: str, other: str) -> dict:
    """The partial index of scheduled slots by channel and ``column``, covering now/next's columns."""
    return dict(
        index_name=f"ix_slot_scheduled_channel_{column.removesuffix('_at')}",
        table_name='slot',
        columns=['channel_id', column],
        unique=False,
        postgresql_where=sa.text("status = 'scheduled'"),
        postgresql_include=['id', 'programme_id', other, 'is_premiere', 'is_live', 'version'],
        sqlite_where=sa.text("status = 'scheduled'"),
    )


BY_END = _scheduled_by('end_at', 'start_at')
BY_START = _scheduled_by('start_at', 'end_at')


def _swap(make: dict, drop: dict) -> None:
    # Scheduled slots never overlap on a channel, so the first two to end after an instant are
    # the one on air and the next: one index probe per channel instead of two. The index by start
    # served only now/next; the day listings use ix_slot_channel_start.
    if op.get_bind().dialect.name == 'postgresql':
        # Built and dropped without blocking schedule writes on a live database.
        with op.get_context().autocommit_block():
            op.create_index(**make, postgresql_concurrently=True, if_not_exists=True)
            op.drop_index(drop['index_name'], table_name='slot', postgresql_concurrently=True, if_exists=True)
    else:
        op.create_index(**make)
        op.drop_index(drop['index_name'], table_name='slot')


def upgrade():
    _swap(BY_END, BY_START)


def downgrade():
    _swap(BY_START, BY_END)
