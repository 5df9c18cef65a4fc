"""The SQL database: engine, every table, and the upgrade that applies the schema migrations.

Relational state (series registry, tokens, users and sessions, alerts, outbox, audit, limit
overrides) lives here whatever the time-series store is; the SQL store keeps samples and
rollups here too. The tables below are what the code reads and writes; the schema a database
has is made by the Alembic revisions in backend/migrations/versions/ (docs/storage.md, "Schema
changes"), and a test checks that the two agree on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url

from backend import db_watch, files

log = logging.getLogger(__name__)
metadata = MetaData()
POOL_TIMEOUT_S = 5.0
# PostgreSQL advisory lock keys. Every transaction that writes shared state (samples and the
# alarm state, the series registry) takes WRITE_LOCK first, so several API processes (the two
# sites) write one at a time in commit order.
WRITE_LOCK = 0x4B5A5331  # "KZS1"


def write_lock(conn: Connection) -> None:
    """Take the cluster-wide write lock for the rest of the transaction (PostgreSQL; on
    SQLite, BEGIN IMMEDIATE already has the database's one writer lock)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")

# The schema version of releases before Alembic (1-4, then 5 written by revision 0005): kept
# so such a release refuses a database migrated past it ("newer than this program"), and the
# readiness probe's harmless write (backend/api/health.py). Alembic's own table is
# alembic_version.
schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", BigInteger, nullable=False),
)

# A series is (satellite?, station?, parameter); '' stands for "none" so the key is unique.
series = Table(
    "series", metadata,
    Column("id", Integer, primary_key=True),
    Column("satellite", String(32), nullable=False),
    Column("station", String(32), nullable=False),
    Column("parameter", String(64), nullable=False),
    UniqueConstraint("satellite", "station", "parameter"),
)

samples = Table(
    "samples", metadata,
    Column("series_id", Integer, primary_key=True),
    Column("t", BigInteger, primary_key=True),  # ns since the epoch, UTC
    Column("value", Float, nullable=False),
    sqlite_with_rowid=False,
)

# Sealed history: per series and segment of SEGMENT_S (6 h) from the epoch, its samples as one
# compressed block (backend/store/blocks.py); the first and last time and the count let reads
# skip or bound a block without decoding it. Samples newer than the compactor's horizon, and
# late ones for a sealed segment until the next compaction, are rows of `samples` (never the
# same series and time in both).
blocks = Table(
    "blocks", metadata,
    Column("series_id", Integer, primary_key=True),
    Column("seg_t", BigInteger, primary_key=True),  # the segment's start, ns since the epoch
    Column("t_first", BigInteger, nullable=False),
    Column("t_last", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

# One row per (level, series, bucket): level is the bucket width in seconds (60, 600, ...).
rollups = Table(
    "rollups", metadata,
    Column("level", Integer, primary_key=True),
    Column("series_id", Integer, primary_key=True),
    Column("bucket_t", BigInteger, primary_key=True),
    Column("min", Float, nullable=False),
    Column("max", Float, nullable=False),
    Column("sum", Float, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("first_t", BigInteger, nullable=False),
    Column("first", Float, nullable=False),
    Column("last_t", BigInteger, nullable=False),
    Column("last", Float, nullable=False),
    sqlite_with_rowid=False,
)

latest = Table(
    "latest", metadata,
    Column("series_id", Integer, primary_key=True),
    Column("t", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
)

# How far retention has pruned each resolution: level 0 (raw samples) or a rollup level in
# seconds, and the time before which it is gone. Range queries answer from coarser levels
# there (backend/retention.py).
pruned = Table(
    "pruned", metadata,
    Column("level", Integer, primary_key=True),
    Column("before_t", BigInteger, nullable=False),
)

tokens = Table(
    "tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("hash", String(64), nullable=False, unique=True),  # sha256 of the token
    Column("role", String(16), nullable=False),
    Column("name", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

# People who log in to the dashboard (machines use tokens). The password is an argon2 hash;
# must_change_password is set for a one-time password (new user, reset) until it is changed.
users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # viewer | operator | engineer
    Column("password_hash", String(255), nullable=False),
    Column("must_change_password", Boolean, nullable=False, default=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_t", BigInteger, nullable=False),
    Column("last_login_t", BigInteger),
)

# Login sessions: the token is shown once (to the dashboard) and kept as its SHA-256, like
# API tokens. A session ends at expires_t (absolute lifetime) or after an idle timeout
# counted from last_seen_t (written at most once a minute, see backend/users.py).
sessions = Table(
    "sessions", metadata,
    Column("id", Integer, primary_key=True),
    Column("hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_t", BigInteger, nullable=False),
    Column("last_seen_t", BigInteger, nullable=False),
    Column("expires_t", BigInteger, nullable=False),
)
Index("sessions_user", sessions.c.user_id)

# One row per alert: a series' breach from raise to clear (kind "limit"), or an entity
# whose telemetry stopped (kind "stale": series_id and parameter are NULL). Entity names
# are copied in so listing and filtering need no join.
alerts = Table(
    "alerts", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # limit | stale
    Column("series_id", Integer, ForeignKey("series.id")),
    Column("satellite", String(32)),
    Column("station", String(32)),
    Column("parameter", String(64)),
    Column("severity", String(16), nullable=False),  # the highest reached while open
    Column("state", String(16), nullable=False),  # warning | critical | stale | cleared
    Column("value", Float),  # the stored (encoded) value that raised or last moved it
    Column("limit_text", Text, nullable=False),
    Column("raised_t", BigInteger, nullable=False),
    Column("updated_t", BigInteger, nullable=False),
    Column("cleared_t", BigInteger),
    Column("acked_by", String(128)),
    Column("acked_t", BigInteger),
    Column("ack_comment", Text),
    Column("shelved_until_t", BigInteger),
    Column("shelved_by", String(128)),
)
Index("alerts_open", alerts.c.cleared_t, alerts.c.series_id)
Index("alerts_raised", alerts.c.raised_t)
alerts_shelved = Index("alerts_shelved", alerts.c.shelved_until_t)

# Alert email, written in the same transaction as the alert change it reports. The
# message (recipients, subject, bodies, Message-ID, Date) is fixed here, so a resend after
# a crash is the same message. sent_t is set only after the SMTP server accepted it.
outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("alert_id", Integer, ForeignKey("alerts.id")),
    Column("kind", String(16), nullable=False),  # raised | escalated | cleared
    Column("recipients", Text, nullable=False),  # comma-separated
    Column("subject", Text, nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("in_reply_to", String(255)),  # Message-ID of the alert's first message
    Column("event_t", BigInteger),  # the sample time it reports (rate limiting)
    Column("throttle_key", String(96)),  # what rate limiting counts it under
    Column("created_t", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_t", BigInteger, nullable=False),
    Column("last_error", Text),
    Column("sent_t", BigInteger),
    Column("failed_t", BigInteger),  # refused for good (5xx every attempt); never retried
    # The alert's plot (backend/alert_plot.py): what to draw, fixed when composed; the PNG,
    # rendered by the sender before the first attempt and kept so a resend is the same.
    Column("plot_json", Text),
    Column("plot_png", LargeBinary),
    # A PDF sent with the message (the shift report's), kept so a resend is the same.
    Column("attachment_name", String(255)),
    Column("attachment_pdf", LargeBinary),
)
Index("outbox_pending", outbox.c.sent_t, outbox.c.next_attempt_t)
# What reloading the email state reads: an open alert's messages, a rate limit's last one.
outbox_alert = Index("outbox_alert", outbox.c.alert_id)
outbox_throttle = Index("outbox_throttle", outbox.c.throttle_key, outbox.c.event_t)

# The escalation ladder's steps (backend/escalation.py): one row per tier owed, written with
# the alert change that starts the ladder, due at due_t. A step is done once: paged (its
# message written to the outbox in the same transaction, message_id naming it) or stopped
# (acknowledged, shelved, cleared, superseded by an escalation; `reason` says which). A test
# page (test_id, no alert) runs the whole ladder at once.
escalation_steps = Table(
    "escalation_steps", metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_id", Integer, ForeignKey("alerts.id")),
    Column("test_id", Integer),
    Column("severity", String(16), nullable=False),
    Column("entity", String(32)),  # a test page's satellite or station, if any
    Column("tier", Integer, nullable=False),  # 1, 2, ...
    Column("tiers", Integer, nullable=False),  # how many the ladder has
    Column("after_s", Float, nullable=False),  # the delay configured for the tier
    Column("recipients", Text, nullable=False),  # comma-separated
    Column("due_t", BigInteger, nullable=False),
    Column("done_t", BigInteger),
    Column("outcome", String(16)),  # paged | stopped
    Column("reason", Text),
    Column("message_id", String(255)),
    Column("created_t", BigInteger, nullable=False),
)
Index("escalation_owed", escalation_steps.c.done_t, escalation_steps.c.due_t)
Index("escalation_alert", escalation_steps.c.alert_id)
Index("escalation_test", escalation_steps.c.test_id)

# Alert email held for a flood digest (backend/flood.py): the raise or escalation that
# would have been emailed, to whom, written with the alert change; message_id once a
# digest carrying it is in the outbox (same transaction).
digest_items = Table(
    "digest_items", metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_id", Integer, ForeignKey("alerts.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # raised | escalated
    Column("severity", String(16), nullable=False),
    Column("recipients", Text, nullable=False),  # comma-separated
    Column("event_t", BigInteger, nullable=False),
    Column("queued_t", BigInteger, nullable=False),
    Column("message_id", String(255)),
)
Index("digest_pending", digest_items.c.message_id, digest_items.c.queued_t)
Index("digest_alert", digest_items.c.alert_id)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True),
    Column("t", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("detail", Text, nullable=False),
)

# Each series' limit state where it is not plainly nominal (a breach held, a persistence
# count running), written in the transaction that moved it: with `latest`, the limit checker's
# whole state, so any API process (either site) continues it exactly (backend/limits.py).
limit_states = Table(
    "limit_states", metadata,
    Column("series_id", Integer, primary_key=True),
    Column("state", Integer, nullable=False),  # 0 nominal, 1 warning, 2 critical
    Column("count_warning", Integer, nullable=False),  # consecutive samples at or above
    Column("count_critical", Integer, nullable=False),
    Column("since_warning", BigInteger, nullable=False),  # the first of those samples (ns)
    Column("since_critical", BigInteger, nullable=False),
)

# One row: which process last changed the alarm state (limit states, alerts, shelves, alert
# email, overrides) and how many changes there have been. A process whose memory was made at
# another generation reloads it before it reads or changes anything (backend/alert_sync.py).
alarm_generation = Table(
    "alarm_generation", metadata,
    Column("id", Integer, primary_key=True),
    Column("writer", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
)

# The two-site deployment's record: each change of primary (failover, switchover; "primary"
# for the first one seen), switchovers asked for, and redundancy lost and restored.
cluster_events = Table(
    "cluster_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("t", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("site", String(32), nullable=False),  # the new primary, or the site concerned
    Column("detail", Text, nullable=False),
)
Index("cluster_events_kind", cluster_events.c.kind, cluster_events.c.t)

limit_overrides = Table(
    "limit_overrides", metadata,
    Column("parameter", String(64), primary_key=True),
    Column("limits_json", Text, nullable=False),
    Column("changed_by", String(128), nullable=False),
    Column("changed_t", BigInteger, nullable=False),
)


# Rate-limit hits (the `limits` library's storage in SQL, backend/ratelimit_store.py): failed
# logins, so that every API process on this database counts them together and a restart
# forgets none. One row per hit; `key` names the limit and what it counts (user name,
# address); times in seconds since the epoch. Rows are deleted once expired.
rate_limits = Table(
    "rate_limits", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("key", String(512), nullable=False),
    Column("t", Float, nullable=False),
    Column("expires_t", Float, nullable=False),
)
Index("rate_limits_key", rate_limits.c.key, rate_limits.c.t)
Index("rate_limits_expiry", rate_limits.c.expires_t)


def make_engine(url: str) -> Engine:
    """An engine with the per-connection settings each backend needs."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            # Private from the first byte: SQLite would create the file with the process's
            # umask (0644), and gives its -wal and -shm files the database file's mode.
            files.touch_private(Path(database))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: object) -> None:
            # WAL lets readers run beside the one writer; FULL makes a commit survive power
            # loss too, and costs nothing measurable at thousands of rows per transaction.
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see `begin_write`)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # A writer takes the lock up front (IMMEDIATE), so two writers queue on the busy
            # timeout instead of failing; readers (see `reader`) never wait for a writer.
            readonly = conn.get_execution_options().get("readonly")
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    # A request waits at most pool_timeout_s for a free connection (then 503), and with the
    # call watch (the API's) no call hangs on a node that stopped answering.
    watch = db_watch.current()
    engine = create_engine(url, pool_pre_ping=watch is None, pool_size=8, max_overflow=8,
                           pool_timeout=POOL_TIMEOUT_S)
    if watch is not None:
        watch.attach(engine)  # its own ping, watched, in place of pool_pre_ping
    return engine


def reader(engine: Engine) -> Engine:
    """The same engine for read-only work: on SQLite it never takes the write lock."""
    return engine.execution_options(readonly=True)


# Releases before Alembic numbered their schema 1-4 in schema_version; revisions 0001-0004
# make exactly those schemas, so such a database is stamped at its number and carried on.
LEGACY_REVISIONS = {1: "0001", 2: "0002", 3: "0003", 4: "0004"}
MIGRATION_LOCK = 0x6B617A73  # PostgreSQL advisory lock: one process migrates at a time


def alembic_config(connection: Connection | None = None) -> Any:
    """Alembic's configuration for the revisions shipped in this package (backend/migrations),
    handing them `connection` (else env.py opens the settings' database)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("backend/migrations has more than one head: merge them")
    return str(head)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: a new database, or one a release before Alembic
    made: see LEGACY_REVISIONS)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return heads[0] if heads else None


def upgrade(engine: Engine) -> str:
    """Bring the database to the newest revision (Alembic), in one transaction, and return it.
    A database made by a release before Alembic (schema_version 1-4) is adopted at its
    version first; one at a revision this program does not know is refused."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    head = head_revision()
    if current_revision(reader(engine)) == head:  # the common start: no write lock taken
        log.info("database schema at revision %s (up to date)", head)
        return head
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # SQLite's batch mode rebuilds a table to alter it; with foreign keys enforced the
            # rebuild's DROP would fail (or cascade). Off for the migration, checked after.
            _foreign_keys(conn, on=False)
        try:
            with conn.begin():
                if not sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                 {"key": MIGRATION_LOCK})
                config = alembic_config(conn)
                script = ScriptDirectory.from_config(config)
                current = MigrationContext.configure(conn).get_current_heads()
                for revision in current:
                    try:
                        script.get_revision(revision)
                    except CommandError:
                        raise RuntimeError(
                            f"database schema revision {revision} is newer than this "
                            f"program's {script.get_current_head()}: upgrade the program"
                        ) from None
                if not current and (legacy := _legacy_version(conn)):
                    if legacy not in LEGACY_REVISIONS:
                        raise RuntimeError(f"database schema {legacy} is newer than this "
                                           "program knows: upgrade the program")
                    log.info("adopting a database at schema version %d (before Alembic) as "
                             "revision %s", legacy, LEGACY_REVISIONS[legacy])
                    command.stamp(config, LEGACY_REVISIONS[legacy])
                command.upgrade(config, "head")
                if sqlite and (broken := conn.exec_driver_sql(
                        "PRAGMA foreign_key_check").fetchall()):
                    raise RuntimeError(f"migration left rows without their parent: {broken}")
                reached = MigrationContext.configure(conn).get_current_heads()
        finally:
            if sqlite:
                _foreign_keys(conn, on=True)
    revision = reached[0]
    log.info("database schema at revision %s", revision)
    return str(revision)


def _foreign_keys(conn: Connection, on: bool) -> None:
    """SQLite's foreign-key enforcement; the pragma takes effect only outside a transaction,
    hence on the driver's connection, beneath SQLAlchemy's BEGIN."""
    driver = conn.connection.driver_connection
    if driver is not None:
        driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _legacy_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    return conn.execute(select(schema_version.c.version).order_by(
        schema_version.c.version.desc()).limit(1)).scalar() or 0
