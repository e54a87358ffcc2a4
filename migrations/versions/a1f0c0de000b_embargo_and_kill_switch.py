"""Embargo (programme.embargo_until, channel.embargo_title) and the promo kill switch (channel.promos_paused_*)

Revision ID: a1f0c0de000b
Revises: a1f0c0de0007
Create Date: 2026-12-04 17:05:00.000000

"""
from alembic import op
import sqlalchemy as sa

import schedule_service.db


# revision identifiers, used by Alembic.
revision = 'a1f0c0de000b'
down_revision = 'a1f0c0de0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('channel') as batch:
        batch.add_column(sa.Column('embargo_title', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch.add_column(sa.Column('promos_paused_at', schedule_service.db.UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('promos_paused_until', schedule_service.db.UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('promos_paused_reason', sa.String(length=500), nullable=True))
        batch.add_column(sa.Column('promos_paused_by', sa.String(length=320), nullable=True))
    with op.batch_alter_table('programme') as batch:
        batch.add_column(sa.Column('embargo_until', schedule_service.db.UtcDateTime(timezone=True), nullable=True))
    # Public reads ask for the next embargo to end (their cache key and max-age depend on it).
    op.create_index('ix_programme_embargo_until', 'programme', ['embargo_until'], unique=False)


def downgrade():
    op.drop_index('ix_programme_embargo_until', table_name='programme')
    with op.batch_alter_table('programme') as batch:
        batch.drop_column('embargo_until')
    with op.batch_alter_table('channel') as batch:
        batch.drop_column('promos_paused_by')
        batch.drop_column('promos_paused_reason')
        batch.drop_column('promos_paused_until')
        batch.drop_column('promos_paused_at')
        batch.drop_column('embargo_title')
