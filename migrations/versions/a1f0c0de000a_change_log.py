"""The change feed's log (SPEC §10): one row per change to a channel, programme or slot, numbered in commit order

Revision ID: a1f0c0de000a
Revises: a1f0c0de000b
Create Date: 2026-12-04 17:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

import schedule_service.db


# revision identifiers, used by Alembic.
revision = 'a1f0c0de000a'
down_revision = 'a1f0c0de000b'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'change_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=True),
        sa.Column('at', schedule_service.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column('entity', sa.String(length=32), nullable=False),
        sa.Column('entity_id', sa.BigInteger(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_change_log')),
    )
    # The feed reads by seq; rows not yet committed have none.
    op.create_index('ix_change_seq', 'change_log', ['seq'], unique=True)
    # What is there already, as its creation, so a consumer starting at the beginning gets it all.
    for entity, table in (('channel', 'channel'), ('programme', 'programme'), ('slot', 'slot')):
        op.execute(
            f"INSERT INTO change_log (at, entity, entity_id, action) "
            f"SELECT created_at, '{entity}', id, 'create' FROM {table} ORDER BY id"
        )
    op.execute("UPDATE change_log SET seq = id")


def downgrade():
    op.drop_index('ix_change_seq', table_name='change_log')
    op.drop_table('change_log')
