"""dispute answers, notifications and notification preferences

- ``dispute_answers``: a party's answer to a dispute (statement, link, evidence file's name and SHA-256).
- ``notifications``: what a creator hears about, in the app and by e-mail (status, attempts, next try).
- ``notification_preferences``: which kinds she hears about, where, and in which language.

Revision ID: 0009_disputes_notifications
Revises: 0009 (0009_import_jobs)
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dispute_answers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dispute_id', sa.Integer(), nullable=False),
        sa.Column('holder_id', sa.Integer(), nullable=False),
        sa.Column('side', sa.String(length=10), nullable=False),
        sa.Column('statement', sa.Text(), nullable=True),
        sa.Column('link', sa.String(length=2000), nullable=True),
        sa.Column('evidence_name', sa.String(length=255), nullable=True),
        sa.Column('evidence_sha256', sa.String(length=64), nullable=True),
        sa.Column('evidence_size', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['dispute_id'], ['disputes.id'], name=op.f('fk_dispute_answers_dispute_id_disputes')),
        sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], name=op.f('fk_dispute_answers_holder_id_holders')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute_answers')))
    op.create_index(op.f('ix_dispute_answers_dispute_id'), 'dispute_answers', ['dispute_id'], unique=False)
    op.create_table(
        'notifications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('holder_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('event', sa.String(length=30), nullable=False),
        sa.Column('subject', sa.String(length=80), nullable=True),
        sa.Column('params', sa.Text(), nullable=False),
        sa.Column('in_app', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('read_at', sa.DateTime(), nullable=True),
        sa.Column('email_status', sa.String(length=10), nullable=False),
        sa.Column('email_attempts', sa.Integer(), nullable=False),
        sa.Column('email_next_at', sa.DateTime(), nullable=True),
        sa.Column('email_error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], name=op.f('fk_notifications_holder_id_holders')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')))
    op.create_index(op.f('ix_notifications_holder_id'), 'notifications', ['holder_id'], unique=False)
    op.create_index(op.f('ix_notifications_email_status'), 'notifications', ['email_status'], unique=False)
    op.create_table(
        'notification_preferences',
        sa.Column('holder_id', sa.Integer(), nullable=False),
        sa.Column('app_kinds', sa.String(length=200), nullable=False),
        sa.Column('email_kinds', sa.String(length=200), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(['holder_id'], ['holders.id'],
                                name=op.f('fk_notification_preferences_holder_id_holders')),
        sa.PrimaryKeyConstraint('holder_id', name=op.f('pk_notification_preferences')))


def downgrade() -> None:
    op.drop_table('notification_preferences')
    op.drop_index(op.f('ix_notifications_email_status'), table_name='notifications')
    op.drop_index(op.f('ix_notifications_holder_id'), table_name='notifications')
    op.drop_table('notifications')
    op.drop_index(op.f('ix_dispute_answers_dispute_id'), table_name='dispute_answers')
    op.drop_table('dispute_answers')
