"""The process an import job or an upload's check runs in: ``python -m fairtrain.services.registry._job_child
job JOB_ID BATCH_ROWS`` or ``… check FOLDER``, started by
:func:`fairtrain.services.registry.repertoire.start_job_process` / ``start_check_process`` through
:func:`fairtrain.core.children.start_child`, so it dies with the server that started it. A plain process (not
a multiprocessing child), so it may start the importer's own parser processes; failures are recorded on the
job (or in the check's ``check.json``) by the code it runs, and its exit status is 1."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _inviter(registry):
    """The invitations' sender the server handed on in the environment, or None (no SMTP server)."""
    from fairtrain.services.notify import Mailer, parse_smtp
    from fairtrain.services.registry import repertoire
    from fairtrain.services.registry.mandate_invites import invite_imported

    smtp = os.environ.get(repertoire._SMTP_ENV)
    if not smtp:
        return None
    host, port = parse_smtp(smtp)
    mailer = Mailer(registry.engine, host, port, os.environ.get(repertoire._FROM_ENV) or "fairtrain@localhost")
    origin = (os.environ.get(repertoire._SITE_ENV) or "http://127.0.0.1:8000").rstrip("/")
    return lambda org_id, ids, on_each=None: invite_imported(
        registry, org_id, ids, origin=origin, mailer=mailer, on_each=on_each
    )


def main(argv: list[str]) -> int:
    args = argv
    from fairtrain.services.registry import repertoire
    from fairtrain.services.registry.registry import Registry

    registry = Registry.open(url=os.environ[repertoire._URL_ENV])
    try:
        if args[0] == "job":
            repertoire.run_job(registry, int(args[1]), batch_rows=int(args[2]), invite=_inviter(registry))
        elif args[0] == "check":
            repertoire.run_check(registry, Path(args[1]))
        else:
            raise SystemExit(f"unknown job kind {args[0]!r} (expected job or check)")
    except Exception:  # noqa: BLE001 (recorded on the job / in check.json by the code that ran)
        return 1
    finally:
        registry.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
