"""licence_templates: an organisation's published collective licence templates (issue 15)

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "licence_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("status IN ('published', 'withdrawn')", name=op.f("ck_licence_templates_status")),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_licence_templates_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licence_templates")),
    )
    with op.batch_alter_table("licence_templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_licence_templates_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("licence_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_licence_templates_org_id"))
    op.drop_table("licence_templates")
