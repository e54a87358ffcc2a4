"""The promo desk: a post's own template; every attempt keeps the text (and picture) it sent and, for a correction, the text it replaced

Revision ID: a1f0c0de0008
Revises: a1f0c0de0006
Create Date: 2026-12-04 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1f0c0de0008'
down_revision = 'a1f0c0de0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('post') as batch:
        batch.add_column(sa.Column('own_template', sa.Text(), nullable=True))
    with op.batch_alter_table('post_attempt') as batch:
        batch.add_column(sa.Column('text', sa.Text(), nullable=True))
        batch.add_column(sa.Column('picture_url', sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column('replaced_text', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('post_attempt') as batch:
        batch.drop_column('replaced_text')
        batch.drop_column('picture_url')
        batch.drop_column('text')
    with op.batch_alter_table('post') as batch:
        batch.drop_column('own_template')
