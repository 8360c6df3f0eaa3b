"""The web's routes by resource: each module serves one resource's HTML pages and its JSON API from the
same service calls (``api``: ``/api/…``, in the OpenAPI document; ``pages``: server-rendered, not in it).
``routers()`` is the one list ``create_app`` includes, in order."""

from __future__ import annotations


def routers() -> list:
    from fairtrain.web import api_money, pages_money
    from fairtrain.web.routes import (
        accounts,
        holders,
        notices,
        organisations,
        policies,
        reservations,
        site,
        snapshots,
        transparency,
        video,
        works,
    )

    return [
        accounts.api,
        works.api,
        policies.api,
        organisations.api,
        notices.api,
        transparency.api,
        snapshots.router,
        api_money.router,  # money: licences, invoices, usage, distributions (h13: routes/licences.py, …)
        video.router,
        site.pages,
        accounts.pages,
        holders.pages,
        policies.pages,
        organisations.pages,
        transparency.pages,
        works.pages,
        notices.pages,
        pages_money.router,
        reservations.pages,
        video.pages,
    ]
