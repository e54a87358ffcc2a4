"""Translations carry category, alt text and guests; programmes an alt text; staff users a language

Revision ID: a1f0c0de0002
Revises: 8b2e4d6f1a37
Create Date: 2026-12-04 14:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1f0c0de0002'
down_revision = '8b2e4d6f1a37'
branch_labels = None
depends_on = None


def upgrade():
    # Only nullable columns without defaults: no table is rewritten on PostgreSQL.
    with op.batch_alter_table('programme') as batch:
        batch.add_column(sa.Column('image_alt', sa.String(length=1000), nullable=True))
    with op.batch_alter_table('programme_translation') as batch:
        batch.add_column(sa.Column('category', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('image_alt', sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column('guests', sa.JSON(none_as_null=True), nullable=True))
    with op.batch_alter_table('user_account') as batch:
        batch.add_column(sa.Column('language', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('user_account') as batch:
        batch.drop_column('language')
    with op.batch_alter_table('programme_translation') as batch:
        batch.drop_column('guests')
        batch.drop_column('image_alt')
        batch.drop_column('category')
    with op.batch_alter_table('programme') as batch:
        batch.drop_column('image_alt')
