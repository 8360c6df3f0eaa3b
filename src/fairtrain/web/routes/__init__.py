"""The web's routes by resource: each module serves one resource's HTML pages and its JSON API from the
same service calls (``api``: ``/api/…``, in the OpenAPI document; ``pages``: server-rendered, not in it).
``routers()`` is the one list ``create_app`` includes, in order."""

from __future__ import annotations


def routers() -> list:
    from fairtrain.web.routes import (
        accounts,
        collective,
        disputes,
        distributions,
        holders,
        licences,
        lookups,
        notifications,
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
        transparency.api,
        snapshots.router,
        licences.router,
        collective.api,
        distributions.router,
        lookups.router,
        disputes.router,
        notifications.router,
        video.router,
        site.pages,
        accounts.pages,
        holders.pages,
        policies.pages,
        organisations.pages,
        transparency.pages,
        works.pages,
        disputes.pages,
        notifications.pages,
        licences.pages,
        collective.pages,
        distributions.pages,
        lookups.pages,
        reservations.pages,
        video.pages,
    ]
