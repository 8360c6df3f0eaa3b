"""`fairtrain` commands: keys."""

from __future__ import annotations

from typing import Annotated

import typer

from fairtrain.cli._common import JsonOpt, app, emit, fail, key_path

keys_app = typer.Typer(help="Ed25519 signing keys (registry, licensee, grantor).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Key name, e.g. registry or the licensee's name")] = "registry",
    registry_key: Annotated[
        bool | None,
        typer.Option(
            "--registry/--party",
            help="A registry key (signs snapshots and tree heads; trusted by default "
            "here) or a party's key (licensee, holder, organisation); default: --registry for the name "
            "'registry', --party otherwise",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing key")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create an Ed25519 key in the data directory (private key mode 0600, public key beside it)."""
    from fairtrain.core.keys import PARTY, REGISTRY, SigningKey

    path = key_path(name)
    if path.exists() and not force:
        fail(f"{path} exists; use --force to replace it (anything it signed will no longer verify with the new key)")
    role = REGISTRY if (name == "registry" if registry_key is None else registry_key) else PARTY
    key = SigningKey.generate()
    key.save(path, role=role)
    data = {
        "name": name,
        "role": role,
        "key_id": key.public.key_id,
        "public_key": key.public.b64(),
        "path": str(path),
        "public_key_file": str(path) + ".pub",
    }
    emit(data, as_json, f"key [bold]{name}[/] {key.public.key_id} → {path} (public: {path}.pub)")


@keys_app.command("show")
def keys_show(name: Annotated[str, typer.Option()] = "registry", as_json: JsonOpt = False) -> None:
    """Print a key's public part (share it so others can verify what you sign)."""
    from fairtrain.core.keys import SigningKey

    pub = SigningKey.load(key_path(name)).public
    emit(
        {"name": name, "key_id": pub.key_id, "public_key": pub.b64(), "pem": pub.pem().decode()},
        as_json,
        pub.pem().decode() + f"key id {pub.key_id}",
    )


@keys_app.command("mark")
def keys_mark(
    name: Annotated[str, typer.Option(help="Key name")] = "registry",
    registry_key: Annotated[
        bool, typer.Option("--registry/--party", help="Trust it as a registry key here, or as a party's key only")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Mark an existing key (one made before key roles) as a registry key or a party's key."""
    from fairtrain.core.keys import PARTY, REGISTRY, SigningKey

    path = key_path(name)
    if not path.exists():
        fail(f"no key {name!r} at {path}: create it with `fairtrain keys create --name {name}`")
    key = SigningKey.load(path)
    role = REGISTRY if registry_key else PARTY
    key.save(path, role=role)  # the same key, rewritten with its mark
    emit(
        {"name": name, "role": role, "key_id": key.public.key_id},
        as_json,
        f"key [bold]{name}[/] {key.public.key_id} is a {role} key",
    )
