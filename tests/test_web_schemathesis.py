"""schemathesis against the OpenAPI document: generated requests, as the public, a creator and an
organisation admin, never get a server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from web_helpers import Session, make_app, text_file


@pytest.fixture
def web_app(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    people = {
        "public": None,
        "creator": Session(app, "a@example.org", "creator", "Creator"),
        "org-admin": Session(app, "o@example.org", "org-admin", "Org"),
    }
    people["creator"].request("POST", "/api/works", files=[("files", ("p.txt", text_file(1), "text/plain"))])
    people["creator"].request(
        "POST", "/api/mandates", json={"org_id": people["org-admin"].org_id, "categories": ["tdm"]}
    )
    app.state.test_people = people
    return app


SETTINGS = settings(
    max_examples=12, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)


def _fuzz(app, role: str) -> list[str]:
    """Every operation of the OpenAPI document with generated requests; the server errors found."""
    # Driven by hand rather than with schemathesis' pytest plugin, whose lazy loader does not run under pytest 9.
    person = app.state.test_people[role]
    headers = {}
    if person is not None:
        headers = {"Cookie": f"ft_session={person.client.cookies.get('ft_session')}", "X-CSRF-Token": person.csrf}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures, operations = [], 0
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1

        @given(case=op.as_strategy())
        @SETTINGS
        def run(case):
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            run()
        except Exception as e:  # noqa: BLE001 - collect every operation's failure, then report them all
            failures.append(f"{op.method.upper()} {op.path}: {str(e)[:400]}")
    assert operations >= 30, operations
    return failures


@pytest.mark.parametrize("role", ["public", "creator", "org-admin"])
def test_no_server_errors(web_app, role):
    failures = _fuzz(web_app, role)
    assert not failures, "\n".join(failures)
