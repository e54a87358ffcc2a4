"""Promotion is an editorial choice (channel.promote, slot.is_promoted); posts within a horizon (slot.plan_at); import runs in the audit trail (audit_entry.import_id)

Revision ID: a1f0c0de0006
Revises: a1f0c0de0002
Create Date: 2026-12-04 14:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

import schedule_service.db


# revision identifiers, used by Alembic.
revision = 'a1f0c0de0006'
down_revision = 'a1f0c0de0002'
branch_labels = None
depends_on = None


def _covering(promoted: bool) -> None:
    """Now/next's covering index of scheduled slots, with the slot's ``promoted`` or without."""
    if op.get_bind().dialect.name != 'postgresql':
        return  # SQLite's partial index covers nothing beyond its keys either way
    include = ['id', 'programme_id', 'start_at', 'is_premiere', 'is_live', 'version']
    if promoted:
        include.insert(-1, 'is_promoted')
    op.drop_index('ix_slot_scheduled_channel_end', table_name='slot')
    op.create_index(
        'ix_slot_scheduled_channel_end',
        'slot',
        ['channel_id', 'end_at'],
        unique=False,
        postgresql_where=sa.text("status = 'scheduled'"),
        postgresql_include=include,
    )


def upgrade():
    with op.batch_alter_table('channel') as batch:
        batch.add_column(sa.Column('promote', sa.String(length=16), nullable=False, server_default='highlights'))
    with op.batch_alter_table('slot') as batch:
        batch.add_column(sa.Column('is_promoted', sa.Boolean(), nullable=False, server_default=sa.false()))
        # Slots already there have their posts: none waits for the horizon.
        batch.add_column(sa.Column('plan_at', schedule_service.db.UtcDateTime(timezone=True), nullable=True))
    # The horizon sweep's query: the few slots still waiting, by when they are due to be planned.
    op.create_index(
        'ix_slot_plan_at',
        'slot',
        ['plan_at'],
        unique=False,
        postgresql_where=sa.text('plan_at IS NOT NULL'),
        sqlite_where=sa.text('plan_at IS NOT NULL'),
    )
    # An entity's history shows the import run that created or last changed it.
    with op.batch_alter_table('audit_entry') as batch:
        batch.add_column(sa.Column('import_id', sa.Integer(), nullable=True))
    # A slot or programme an import made or changed names that run: an import writes one entry
    # per channel, not one per row (SPEC §8a).
    for table in ('slot', 'programme'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('import_id', sa.Integer(), nullable=True))
    # Now/next shows whether a slot is promoted, as the slot's own API does.
    _covering(promoted=True)


def downgrade():
    _covering(promoted=False)
    for table in ('audit_entry', 'slot', 'programme'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('import_id')
    op.drop_index('ix_slot_plan_at', table_name='slot')
    with op.batch_alter_table('slot') as batch:
        batch.drop_column('plan_at')
        batch.drop_column('is_promoted')
    with op.batch_alter_table('channel') as batch:
        batch.drop_column('promote')
