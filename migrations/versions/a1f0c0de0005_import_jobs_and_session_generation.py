"""import jobs (the uploaded file in pieces until done) and each user's session generation

Revision ID: a1f0c0de0005
Revises: 8b2e4d6f1a37
Create Date: 2026-12-04 14:20:00.000000

"""
from alembic import op
import sqlalchemy as sa

import schedule_service.db


# revision identifiers, used by Alembic.
revision = 'a1f0c0de0005'
down_revision = '8b2e4d6f1a37'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('import_job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('is_dry_run', sa.Boolean(), nullable=False),
    sa.Column('is_skip_bad', sa.Boolean(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('own_hosts', sa.JSON(), nullable=False),
    sa.Column('channel_map', sa.JSON(), nullable=True),
    sa.Column('file_name', sa.String(length=255), nullable=True),
    sa.Column('file_size', sa.BigInteger(), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('channels_done', sa.Integer(), nullable=False),
    sa.Column('channels_total', sa.Integer(), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=True),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('claimed_by', sa.String(length=200), nullable=True),
    sa.Column('lease_until', schedule_service.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', schedule_service.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('started_at', schedule_service.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', schedule_service.db.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_job'))
    )
    # The scheduler looks for work among the few unfinished jobs only.
    op.create_index('ix_import_job_unfinished', 'import_job', ['status', 'lease_until'], unique=False,
                    postgresql_where=sa.text("status IN ('queued', 'running')"),
                    sqlite_where=sa.text("status IN ('queued', 'running')"))
    op.create_table('import_file_chunk',
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['import_job.id'], name=op.f('fk_import_file_chunk_job_id_import_job'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_id', 'seq', name=op.f('pk_import_file_chunk'))
    )
    # Moved by logout, a new password and "sign out everywhere": every older session ends.
    with op.batch_alter_table('user_account') as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('user_account') as batch_op:
        batch_op.drop_column('session_generation')
    op.drop_table('import_file_chunk')
    op.drop_index('ix_import_job_unfinished', table_name='import_job', postgresql_where=sa.text("status IN ('queued', 'running')"), sqlite_where=sa.text("status IN ('queued', 'running')"))
    op.drop_table('import_job')
