"""built-in web target

Revision ID: 9e2490c4a95e
Revises: 951510e236da
Create Date: 2026-11-27 13:54:42.787003

"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa

import schedule_service.db


# revision identifiers, used by Alembic.
revision = '9e2490c4a95e'
down_revision = '951510e236da'
branch_labels = None
depends_on = None


def upgrade():
    # The service's own promo feed is a target every installation has, so plans can name
    # "web" from the start.
    target = sa.table(
        "target",
        sa.column("name", sa.String),
        sa.column("kind", sa.String),
        sa.column("is_approval_required", sa.Boolean),
        sa.column("is_enabled", sa.Boolean),
        sa.column("created_at", schedule_service.db.UtcDateTime),
        sa.column("updated_at", schedule_service.db.UtcDateTime),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        target,
        [{"name": "web", "kind": "web", "is_approval_required": False, "is_enabled": True, "created_at": now, "updated_at": now}],
    )


def downgrade():
    op.execute("DELETE FROM target WHERE name = 'web' AND kind = 'web'")
