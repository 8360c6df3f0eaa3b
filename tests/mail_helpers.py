"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the tests that send e-mail: ``smtp_server()`` for a fixture
of any scope, the ``smtp`` fixture (registered in conftest.py) for one test."""

from __future__ import annotations

import email
import email.policy
import time
from contextlib import contextmanager

import pytest
from aiosmtpd.controller import Controller

from web_helpers import free_port


class Inbox:
    """What the server received: ``messages`` is a list of (recipients, parsed message); ``port`` and ``addr``
    (``127.0.0.1:PORT``) say where it listens."""

    def __init__(self):
        self.messages = []
        self.port = 0

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(
            (envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=email.policy.default))
        )
        return "250 OK"

    def wait(self, n: int, timeout: float = 20.0):
        """The messages once there are ``n`` of them (or ``timeout`` seconds have passed)."""
        end = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < end:
            time.sleep(0.05)
        return self.messages


@contextmanager
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1 for one test: its Inbox."""
    with smtp_server() as inbox:
        yield inbox
