"""facts version, web sessions, one import-created holder per name, distribution run index

- ``facts_version``: one row bumped with every write that changes decision facts (web caches check it).
- ``web_sessions``: server-side sessions, so that signing out (or a password change) ends them.
- ``holders.org_key`` + unique (created_by_org_id, org_key): concurrent imports cannot create one name
  twice. Holders that earlier races already duplicated keep ``org_key`` NULL except the first.
- ``distribution_runs.started_by`` / ``summary`` and ``distribution_run_parties``: who started a run (was
  a JSON file beside the database) and what the runs and statements pages list, without parsing every
  run's documents on each request. Existing runs are indexed here, once.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:03:21.425801
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    facts_version = op.create_table(
        'facts_version',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_facts_version')))
    op.bulk_insert(facts_version, [{'id': 1, 'version': 0}])

    op.create_table(
        'web_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_web_sessions_token_hash')))
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('holders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('org_key', sa.String(length=300), nullable=True))
    op.execute("UPDATE holders SET org_key = name WHERE created_by_org_id IS NOT NULL AND id = ("
               "SELECT min(h2.id) FROM holders h2 WHERE h2.created_by_org_id = holders.created_by_org_id "
               "AND h2.name = holders.name)")
    with op.batch_alter_table('holders', schema=None) as batch_op:
        batch_op.create_index('uq_holders_org_key', ['created_by_org_id', 'org_key'], unique=True)

    with op.batch_alter_table('distribution_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_by', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('summary', sa.Text(), nullable=True))
    parties = op.create_table(
        'distribution_run_parties',
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('party', sa.String(length=40), nullable=False),
        sa.Column('totals', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['distribution_runs.id'],
                                name=op.f('fk_distribution_run_parties_run_id_distribution_runs')),
        sa.PrimaryKeyConstraint('run_id', 'party', name=op.f('pk_distribution_run_parties')))
    with op.batch_alter_table('distribution_run_parties', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_distribution_run_parties_party'), ['party'], unique=False)
    _index_existing_runs(parties)


def _index_existing_runs(parties) -> None:
    # The same derivation as services/ledger/distribution.py run_index(), frozen here as of this revision.
    conn = op.get_bind()
    runs = sa.table('distribution_runs', sa.column('id', sa.Integer), sa.column('inputs', sa.Text),
                    sa.column('output', sa.Text), sa.column('summary', sa.Text))
    for run_id, in conn.execute(sa.select(runs.c.id).order_by(runs.c.id)).all():
        row = conn.execute(sa.select(runs.c.inputs, runs.c.output).where(runs.c.id == run_id)).one()
        inputs, doc = json.loads(row.inputs), json.loads(row.output)
        summary = {"formula": inputs.get("formula"), "totals": doc.get("totals"),
                   "lines": len(doc.get("lines", [])), "holders": len(doc.get("holders", []))}
        conn.execute(sa.update(runs).where(runs.c.id == run_id).values(
            summary=json.dumps(summary, sort_keys=True, separators=(",", ":"))))
        found: dict[str, list] = {}
        for e in inputs.get("licences", []):
            if e.get("collector"):
                found.setdefault(e["collector"], None)
        for w in inputs.get("works", []):
            for s in w.get("shares", []):
                if s.get("organisation"):
                    found.setdefault(s["organisation"], None)
        for ln in doc.get("lines", []):
            found.setdefault(ln["holder"], [])
        for t in doc.get("holders", []):
            if t.get("holder"):
                found[t["holder"]] = (found.get(t["holder"]) or []) + [t]
        if found:
            conn.execute(sa.insert(parties), [
                {"run_id": run_id, "party": p,
                 "totals": None if t is None else json.dumps(t, sort_keys=True, separators=(",", ":"))}
                for p, t in sorted(found.items())])


def downgrade() -> None:
    with op.batch_alter_table('distribution_run_parties', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_distribution_run_parties_party'))
    op.drop_table('distribution_run_parties')
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of ``holders`` would drop a table that
    # other tables' foreign keys point at.
    op.drop_column('distribution_runs', 'summary')
    op.drop_column('distribution_runs', 'started_by')
    op.drop_index('uq_holders_org_key', table_name='holders')
    op.drop_column('holders', 'org_key')
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_user_id'))
    op.drop_table('web_sessions')
    op.drop_table('facts_version')
