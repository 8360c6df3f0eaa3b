"""`fairtrain` commands: keys."""

from __future__ import annotations

from typing import Annotated

import typer

from fairtrain.cli._common import (
    JsonOpt,
    app,
    emit,
    fail,
    key_path,
)

keys_app = typer.Typer(help="Ed25519 signing keys (registry, licensee, grantor).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option(help="Key name, e.g. registry or the licensee's name")] = "registry",
                force: Annotated[bool, typer.Option(help="Replace an existing key")] = False,
                as_json: JsonOpt = False) -> None:
    """Create an Ed25519 key in the data directory (private key mode 0600, public key beside it)."""
    from fairtrain.core.keys import SigningKey

    path = key_path(name)
    if path.exists() and not force:
        fail(f"{path} exists; use --force to replace it (anything it signed will no longer verify with the new key)")
    key = SigningKey.generate()
    key.save(path)
    data = {"name": name, "key_id": key.public.key_id, "public_key": key.public.b64(), "path": str(path),
            "public_key_file": str(path) + ".pub"}
    emit(data, as_json, f"key [bold]{name}[/] {key.public.key_id} → {path} (public: {path}.pub)")


@keys_app.command("show")
def keys_show(name: Annotated[str, typer.Option()] = "registry", as_json: JsonOpt = False) -> None:
    """Print a key's public part (share it so others can verify what you sign)."""
    from fairtrain.core.keys import SigningKey

    pub = SigningKey.load(key_path(name)).public
    emit({"name": name, "key_id": pub.key_id, "public_key": pub.b64(), "pem": pub.pem().decode()}, as_json,
         pub.pem().decode() + f"key id {pub.key_id}")
