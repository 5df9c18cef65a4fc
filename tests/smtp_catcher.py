"""A real SMTP server for tests (aiosmtpd on a loopback port) that keeps what it receives,
can be stopped and started again on the same port, and can hold a message mid-send."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from kazsat.stack import free_port


@dataclass
class Received:
    envelope_from: str
    recipients: list[str]
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return self.message["Message-ID"]

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()


@dataclass
class SmtpCatcher:
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    # While set, a message is recorded on DATA and then the reply is held until released:
    # the client is cut off mid-send, after the server has the message.
    hold: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd hook name)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg))
        if self.hold.is_set():
            self.held.set()
            while self.hold.is_set():
                await asyncio.sleep(0.02)
        return "250 OK"

    def start(self) -> SmtpCatcher:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self.hold.clear()
            self._controller.stop()
            self._controller = None

    @property
    def env(self) -> dict[str, str]:
        return {"KAZSAT_SMTP_HOST": "127.0.0.1", "KAZSAT_SMTP_PORT": str(self.port),
                "KAZSAT_SMTP_SECURITY": "none", "KAZSAT_SMTP_TIMEOUT_S": "5"}

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.received)


def wait_for(condition: Callable[[], object], timeout_s: float = 20, what: str = "") -> object:
    """Poll until condition() is truthy; its value, or AssertionError at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or condition}")
        time.sleep(0.05)
