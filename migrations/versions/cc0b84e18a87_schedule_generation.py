"""schedule generation

Revision ID: cc0b84e18a87
Revises: 9e2490c4a95e
Create Date: 2026-11-27 14:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

import schedule_service.db


# revision identifiers, used by Alembic.
revision = 'cc0b84e18a87'
down_revision = '9e2490c4a95e'
branch_labels = None
depends_on = None


def upgrade():
    # One row whose value grows with every change viewers can see: the public caches' key.
    table = op.create_table('schedule_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('changed_at', schedule_service.db.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_generation'))
    )
    op.bulk_insert(table, [{"id": 1, "value": 0, "changed_at": None}])


def downgrade():
    op.drop_table('schedule_generation')
