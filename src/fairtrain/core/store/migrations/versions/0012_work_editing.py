"""a work is hers to shape: Latin title, withdrawal, preview, co-holder invitations

- ``works.title_latin``, ``works.withdrawn_at``, ``works.preview_sha256``.
- ``work_invitations``: a co-holder invited by e-mail with a role and share (token stored hashed).

Revision ID: 0012
Revises: 0011 (0011_disputes_notifications)
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE (nullable columns): a batch copy of ``works`` would drop a table others reference.
    op.add_column('works', sa.Column('title_latin', sa.String(length=1000), nullable=True))
    op.add_column('works', sa.Column('withdrawn_at', sa.DateTime(), nullable=True))
    op.add_column('works', sa.Column('preview_sha256', sa.String(length=64), nullable=True))
    op.create_table(
        'work_invitations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('work_id', sa.Integer(), nullable=False),
        sa.Column('inviter_holder_id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('role', sa.String(length=30), nullable=False),
        sa.Column('share_num', sa.BigInteger(), nullable=False),
        sa.Column('share_den', sa.BigInteger(), nullable=False),
        sa.Column('keep_num', sa.BigInteger(), nullable=False),
        sa.Column('keep_den', sa.BigInteger(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('accepted_at', sa.DateTime(), nullable=True),
        sa.Column('accepted_holder_id', sa.Integer(), nullable=True),
        sa.Column('withdrawn_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['work_id'], ['works.id'], name=op.f('fk_work_invitations_work_id_works')),
        sa.ForeignKeyConstraint(['inviter_holder_id'], ['holders.id'],
                                name=op.f('fk_work_invitations_inviter_holder_id_holders')),
        sa.ForeignKeyConstraint(['accepted_holder_id'], ['holders.id'],
                                name=op.f('fk_work_invitations_accepted_holder_id_holders')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_work_invitations')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_work_invitations_token_hash')))
    op.create_index(op.f('ix_work_invitations_work_id'), 'work_invitations', ['work_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_work_invitations_work_id'), table_name='work_invitations')
    op.drop_table('work_invitations')
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+), for the same reason.
    op.drop_column('works', 'preview_sha256')
    op.drop_column('works', 'withdrawn_at')
    op.drop_column('works', 'title_latin')
