"""mandates with consent and revocation; organisations' tariffs

- ``mandates``: ``confirmed_at`` (NULL = pending: the mandate does not count), ``confirmation`` (how),
  ``confirm_token_hash`` (SHA-256 of a single-use confirmation token), ``paper_sha256`` (the signed paper
  mandate's hash), ``revoked_at`` / ``ends_at`` (a revocation and the end date it set). Existing mandates
  were in force without consent being asked: they are confirmed as of when they were recorded.
- ``tariffs``: an organisation's published tariff documents (licence and retroactive).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 05:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mandates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('confirmation', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('confirm_token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('paper_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('ends_at', sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_mandates_confirm_token_hash'), ['confirm_token_hash'])
    op.execute("UPDATE mandates SET confirmed_at = declared_at, confirmation = 'direct'")
    op.create_table(
        'tariffs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('document', sa.Text(), nullable=False),
        sa.Column('published_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('licence', 'retroactive')", name=op.f('ck_tariffs_kind')),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_tariffs_org_id_organisations')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tariffs')))
    with op.batch_alter_table('tariffs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tariffs_org_id'), ['org_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tariffs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tariffs_org_id'))
    op.drop_table('tariffs')
    with op.batch_alter_table('mandates', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_mandates_confirm_token_hash'), type_='unique')
        for col in ('ends_at', 'revoked_at', 'paper_sha256', 'confirm_token_hash', 'confirmation', 'confirmed_at'):
            batch_op.drop_column(col)
