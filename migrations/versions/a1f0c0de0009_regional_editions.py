"""Regional editions (SPEC §9): a channel's time-shifted feeds, and a target bound to one

Revision ID: a1f0c0de0009
Revises: a1f0c0de0008
Create Date: 2026-12-04 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1f0c0de0009'
down_revision = 'a1f0c0de0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('edition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('names', sa.JSON(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('shift_seconds', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channel.id'], name=op.f('fk_edition_channel_id_channel'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_edition')),
    sa.UniqueConstraint('slug', name=op.f('uq_edition_slug'))
    )
    op.create_index(op.f('ix_edition_channel_id'), 'edition', ['channel_id'], unique=False)
    # By slug, as plan steps name targets: an edition removed unbinds its targets (editions.py).
    with op.batch_alter_table('target') as batch:
        batch.add_column(sa.Column('edition', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('target') as batch:
        batch.drop_column('edition')
    op.drop_index(op.f('ix_edition_channel_id'), table_name='edition')
    op.drop_table('edition')
