"""import jobs: a validated repertoire import stored in the background, chunk by chunk, resumable

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 05:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'import_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=200), nullable=False),
        sa.Column('sheet', sa.Text(), nullable=False),
        sa.Column('files_root', sa.Text(), nullable=False),
        sa.Column('encoding', sa.String(length=32), nullable=False),
        sa.Column('rows_total', sa.Integer(), nullable=False),
        sa.Column('rows_done', sa.Integer(), nullable=False),
        sa.Column('lines_done', sa.Integer(), nullable=False),
        sa.Column('report', sa.Text(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('pid', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_import_jobs_org_id_organisations')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_jobs')))
    op.create_index(op.f('ix_import_jobs_org_id'), 'import_jobs', ['org_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_import_jobs_org_id'), table_name='import_jobs')
    op.drop_table('import_jobs')
