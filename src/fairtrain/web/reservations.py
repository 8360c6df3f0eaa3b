"""What a reservation page publishes: its path, the registry's origin and contact, and the creator's or
work's terms as a :class:`SignalPolicy`, built from the registry's effective terms. The routes live in
``web/reserve.py``; the creator and work pages link here too."""

from __future__ import annotations

from fastapi import Request

from fairtrain.core.signals.render import Party, PartyKind, SignalPolicy
from fairtrain.core.vocab import Level
from fairtrain.web.errors import WebError

_LEVEL = {"h": Level.CATALOGUE, "w": Level.WORK}


def page_path(kind: str, target_id: int) -> str:
    """The short, stable path of a reservation page: ``/r/h/<holder>`` or ``/r/w/<work>``."""
    return f"/r/{kind}/{target_id}"


def registry_origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def reservation(state, kind: str, target_id: int, origin: str) -> tuple[SignalPolicy, str]:
    """(policy, title) of a creator's or a work's reservation as published by the registry at ``origin``.

    A person's e-mail address is never published: licences are asked for through the registry, so its
    address is the contact; an organisation's own (business) address is."""
    if kind == "h":
        holder = state.registry.find_holder(target_id)
        name, email, title, party_kind = holder["name"], None, holder["name"], PartyKind.HOLDER
    else:
        work = state.registry.work(target_id)
        title = work["title"] + (f" ({work['title_latin']})" if work.get("title_latin") else "")  # both scripts
        if work["holders"]:
            holder = state.registry.find_holder(work["holders"][0]["holder"].split(":")[1])
            name, email, party_kind = holder["name"], None, PartyKind.HOLDER
        elif work["organisation"]:
            org = state.registry.find_org(work["organisation"])
            name, email, party_kind = org["name"], org["email"], PartyKind.ORGANISATION
        else:
            raise WebError(404, f"work {target_id}: no holder to declare for it")
    path = page_path(kind, target_id)
    policy = SignalPolicy.from_decisions(
        Party(name, party_kind, email or registry_contact(origin)),
        origin,
        state.registry.policy_decisions(_LEVEL[kind], target_id).values(),
        policy_url=origin + path,
        licence_urls=(origin + path,),
        scope=path,
    )
    return policy, title


def request_host(origin: str) -> str:
    return origin.split("://", 1)[1].split(":")[0]


def registry_contact(origin: str) -> str:
    """The registry's own address for licence questions (a host without a domain, such as a test or
    intranet name, gets the reserved ``.invalid`` suffix rather than a malformed address)."""
    host = request_host(origin)
    return f"registry@{host}" if "." in host.strip(".") else f"registry@{host}.invalid"
