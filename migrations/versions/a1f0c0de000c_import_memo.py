"""A completed import's memo: the same guide again is known to change nothing without reading it

Revision ID: a1f0c0de000c
Revises: a1f0c0de000a
Create Date: 2026-12-04 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import schedule_service.db


# revision identifiers, used by Alembic.
revision = 'a1f0c0de000c'
down_revision = 'a1f0c0de000a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'import_memo',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('seq_from', sa.BigInteger(), nullable=False),
        sa.Column('seq_to', sa.BigInteger(), nullable=False),
        sa.Column('report', sa.JSON(), nullable=False),
        sa.Column('created_at', schedule_service.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_memo')),
    )
    op.create_index(op.f('ix_import_memo_key'), 'import_memo', ['key'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_import_memo_key'), table_name='import_memo')
    op.drop_table('import_memo')
