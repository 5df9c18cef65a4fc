"""The durable alert-email sender: a background thread that delivers outbox rows by SMTP.

At-least-once with a stable identity: a row is marked sent only after the SMTP server
accepted the message (the reply to DATA). A crash after that acceptance and before the
mark sends it again after restart, byte for byte the same headers (Message-ID, Date), so
inboxes and SMTP catchers can fold the copy. While the server is down, each due message
is retried with its own exponential back-off (outbox_retry_s doubling up to
outbox_retry_max_s); the log says once that the server is down and once that it is back.
When the server accepts a message, the others waiting out a back-off because it was
unreachable are due at once: recovery does not wait for each one's next retry.
A message the server refuses for good (5xx) outbox_max_attempts times is marked failed.
One API process sends for a database: the one holding the cluster's duties
(backend/duties.py).
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from email.utils import parseaddr
from typing import Any

from sqlalchemy import Engine, Row, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from backend import db
from backend.alert_plot import PlotSpec
from backend.notify import to_mime
from backend.settings import Settings, split_addresses
from backend.store.base import NS
from backend.timeutil import format_time

log = logging.getLogger(__name__)
BATCH = 20
# last_error prefixes of messages that wait for the server rather than for a refusal.
CONNECT, CUT_OFF = "connect: ", "connection lost: "


class OutboxSender:
    name = "outbox-sender"

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._busy = threading.Event()  # set while a delivery pass runs
        self._thread: threading.Thread | None = None
        self._down_since: float | None = None
        self._said_unconfigured = False
        # Renders an alert email's plot before its first attempt (backend/alert_plot.py).
        self.plotter: Callable[[PlotSpec], bytes] | None = None

    # ---- life ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start sending (again, after a stop: the cluster's duties move between sites)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,),
                                        name="outbox-sender", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A message was queued: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the message in hand (a message is never cut off on purpose)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(self.settings.smtp_timeout_s + 5)

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._busy.set()
            try:
                more = self.deliver_due()
            except SQLAlchemyError as exc:
                log.error("outbox: database error (%s); retrying", str(exc).splitlines()[0])
                more = False
            except Exception:
                log.exception("outbox: unexpected error; retrying")
                more = False
            finally:
                self._busy.clear()
            if not more:
                self._wake.wait(self.settings.outbox_poll_s)
                self._wake.clear()

    # ---- delivering ------------------------------------------------------------------------

    def pending(self) -> dict[str, Any]:
        """{"pending", "sent", "failed", "oldest_pending", "last_error", "idle"} for the API.
        idle: no message is due now and none is being sent; those pending wait out a
        back-off (or there are none), so nothing goes out until that or a new message."""
        busy = self._busy.is_set()  # before the query: a pass that ends meanwhile has sent
        o = db.outbox.c
        waiting = (o.sent_t.is_(None), o.failed_t.is_(None))
        with db.reader(self.engine).connect() as conn:
            counts = conn.execute(select(
                func.count().filter(*waiting),
                func.count().filter(o.sent_t.is_not(None)),
                func.count().filter(o.failed_t.is_not(None)),
                func.min(o.created_t).filter(*waiting),
                func.count().filter(*waiting, o.next_attempt_t <= time.time_ns()),
            )).one()
            error = conn.execute(select(o.last_error).where(
                o.sent_t.is_(None), o.last_error.is_not(None)).order_by(o.id.desc())
                .limit(1)).scalar()
        return {"pending": counts[0], "sent": counts[1], "failed": counts[2],
                "oldest_pending": format_time(counts[3]) if counts[3] else None,
                "last_error": error, "idle": not busy and counts[4] == 0}

    def deliver_due(self, now: int | None = None) -> bool:
        """Send the messages that are due; True when there may be more due right away."""
        s = self.settings
        now = time.time_ns() if now is None else now
        o = db.outbox.c
        with db.reader(self.engine).connect() as conn:
            rows = conn.execute(select(db.outbox).where(
                o.sent_t.is_(None), o.failed_t.is_(None), o.next_attempt_t <= now)
                .order_by(o.id).limit(BATCH)).all()
        if not rows:
            return False
        if not s.smtp_host:
            if not self._said_unconfigured:
                self._said_unconfigured = True
                log.warning("alert email is queued but not sent: no SMTP server configured "
                            "(KAZSAT_SMTP_HOST); messages wait in the outbox")
            return False
        try:
            smtp = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            self._server_down(exc, len(rows))
            for row in rows:
                self._failed(row, CONNECT + _reason(exc), permanent=False)
            return False
        self._server_up()
        sent = 0
        sender = parseaddr(s.email_sender)[1]
        try:
            for row in rows:
                if self._stop.is_set():
                    break
                plot = self._plot(row)
                try:
                    refused = smtp.send_message(to_mime(row, s.email_sender, plot), sender,
                                                split_addresses(row.recipients))
                except smtplib.SMTPRecipientsRefused as exc:
                    self._failed(row, _reason(exc), permanent=_permanent(exc))
                    continue
                except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                    self._failed(row, _reason(exc), permanent=_permanent(exc))
                    smtp.rset()
                    continue
                except (OSError, smtplib.SMTPException) as exc:
                    # The connection broke: this message was perhaps accepted, perhaps not;
                    # it stays unsent and goes again with the same Message-ID.
                    self._failed(row, CUT_OFF + _reason(exc), permanent=False)
                    return False  # not the moment to wake the others
                self._sent(row, refused)
                sent += 1
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
        woken = self._wake_waiting() if sent else 0
        return woken > 0 or sent == len(rows) == BATCH

    def _plot(self, row: Row[Any]) -> bytes | None:
        """The row's plot, rendered and kept the first time (a resend is the same message).
        A plot that cannot be drawn is left out (b""), never holding the message back."""
        if row.plot_json is None or row.plot_png is not None or self.plotter is None:
            return row.plot_png  # type: ignore[no-any-return]
        try:
            png = self.plotter(PlotSpec.from_json(json.loads(row.plot_json)))
        except Exception:
            log.exception("alert email %s: its plot could not be drawn; sent without it",
                          row.message_id)
            png = b""
        with self.engine.begin() as conn:
            conn.execute(update(db.outbox).where(db.outbox.c.id == row.id)
                         .values(plot_png=png))
        return png

    def _wake_waiting(self) -> int:
        """The server takes mail again: messages backing off because it was unreachable
        are due now, not up to outbox_retry_max_s later. Refused ones keep their back-off."""
        now = time.time_ns()
        o = db.outbox.c
        with self.engine.begin() as conn:
            return conn.execute(update(db.outbox).where(
                o.sent_t.is_(None), o.failed_t.is_(None), o.next_attempt_t > now,
                or_(o.last_error.startswith(CONNECT), o.last_error.startswith(CUT_OFF)))
                .values(next_attempt_t=now)).rowcount

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        if s.smtp_security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port,
                                                  timeout=s.smtp_timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
        try:
            smtp.ehlo()
            if s.smtp_security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _sent(self, row: Row[Any], refused: dict[str, tuple[int, bytes]]) -> None:
        now = time.time_ns()
        with self.engine.begin() as conn:
            conn.execute(update(db.outbox).where(db.outbox.c.id == row.id).values(
                sent_t=now, attempts=row.attempts + 1,
                last_error=f"refused: {', '.join(refused)}" if refused else None))
        if refused:
            log.warning("alert email %s sent, but the server refused %s", row.message_id,
                        ", ".join(refused))
        log.info("alert email sent: %s %s to %s", row.message_id, row.subject, row.recipients)

    def _failed(self, row: Row[Any], error: str, permanent: bool) -> None:
        s = self.settings
        attempts = row.attempts + 1
        now = time.time_ns()
        delay = min(s.outbox_retry_s * 2 ** (attempts - 1), s.outbox_retry_max_s)
        give_up = permanent and attempts >= s.outbox_max_attempts
        with self.engine.begin() as conn:
            conn.execute(update(db.outbox).where(db.outbox.c.id == row.id).values(
                attempts=attempts, last_error=error[:500], next_attempt_t=now + int(delay * NS),
                failed_t=now if give_up else None))
        if give_up:
            log.error("alert email %s refused %d times, given up: %s", row.message_id,
                      attempts, error)
        elif permanent or self._down_since is None:
            log.warning("alert email %s not sent (attempt %d, next in %g s): %s",
                        row.message_id, attempts, delay, error)

    def _server_down(self, exc: BaseException, waiting: int) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            s = self.settings
            log.warning("SMTP server %s:%d unreachable (%s): %d or more alert emails wait "
                        "in the outbox and are retried with back-off", s.smtp_host,
                        s.smtp_port, _reason(exc), waiting)

    def _server_up(self) -> None:
        if self._down_since is not None:
            log.warning("SMTP server reachable again after %.0f s; sending waiting alert email",
                        time.monotonic() - self._down_since)
            self._down_since = None


def _permanent(exc: smtplib.SMTPException) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return getattr(exc, "smtp_code", 0) >= 500


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipients refused: " + ", ".join(
            f"{r} ({code})" for r, (code, _) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error  # bytes from smtplib; typeshed allows str
        text = error.decode(errors="replace") if isinstance(error, bytes) else error
        return f"{exc.smtp_code} {text}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
