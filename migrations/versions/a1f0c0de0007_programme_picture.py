"""A programme keeps the content hash of its uploaded picture (programme.image_hash)

Revision ID: a1f0c0de0007
Revises: a1f0c0de0009
Create Date: 2026-12-04 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1f0c0de0007'
down_revision = 'a1f0c0de0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('programme') as batch:
        batch.add_column(sa.Column('image_hash', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('programme') as batch:
        batch.drop_column('image_hash')
