"""an index of scheduled slots only, covering now/next

Revision ID: 3f1a7c2d9b40
Revises: cc0b84e18a87
Create Date: 2026-11-27 18:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3f1a7c2d9b40'
down_revision = 'cc0b84e18a87'
branch_labels = None
depends_on = None


def upgrade():
    # now/next looks up two scheduled slots per channel: a partial index skips cancelled ones,
    # and on PostgreSQL carries the columns shown, so the lookups never visit the table.
    index = dict(
        index_name='ix_slot_scheduled_channel_start',
        table_name='slot',
        columns=['channel_id', 'start_at'],
        unique=False,
        postgresql_where=sa.text("status = 'scheduled'"),
        postgresql_include=['id', 'programme_id', 'end_at', 'is_premiere', 'is_live', 'version'],
        sqlite_where=sa.text("status = 'scheduled'"),
    )
    if op.get_bind().dialect.name == 'postgresql':
        # Built without blocking schedule writes on a live database (outside a transaction).
        with op.get_context().autocommit_block():
            op.create_index(**index, postgresql_concurrently=True, if_not_exists=True)
    else:
        op.create_index(**index)


def downgrade():
    op.drop_index('ix_slot_scheduled_channel_start', table_name='slot')
