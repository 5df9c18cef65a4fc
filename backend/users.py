"""People and their login sessions: plain functions the CLI and the API routes call.

Passwords are argon2id hashes (argon2-cffi). A new user, or one whose password was reset,
gets a one-time password and must change it at the first login. A session token is random,
shown once to whoever logged in, and stored as its SHA-256, like API tokens; it carries the
user's role, so every route checks it the way it checks an API token.

Times are nanoseconds since the epoch; every function that depends on the time takes `now`
so that tests can move the clock without sleeping.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, Row, delete, func, or_, select, update

from backend import db

log = logging.getLogger(__name__)

USER_ROLES = ("viewer", "operator", "engineer")
SESSION_PREFIX = "kss_"  # tells a session token from an API token ("ksat_") at a glance
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_PASSWORD_LENGTH = 256  # hashing cost is bounded whatever a client sends
TOUCH_EVERY_NS = 60 * 10**9  # last_seen_t is written at most this often per session
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/l/I

# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): tens of milliseconds a
# login, so that failed logins within the rate limits cannot tie up the API's CPU.
# check_needs_rehash moves stored hashes along if these change.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when the name is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class UserError(ValueError):
    """A request about users that cannot be done as asked (the message says why)."""


class PasswordRejected(UserError):
    """A new password that breaks the rules."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    must_change_password: bool
    disabled: bool
    created_t: int
    last_login_t: int | None


@dataclass(frozen=True)
class Session:
    user: User
    digest: str  # SHA-256 of the token
    created_t: int
    last_seen_t: int
    expires_t: int  # absolute end; the idle timeout may end it sooner


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def one_time_password() -> str:
    """16 characters from 56 (about 93 bits), none easily misread."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(16))


# Words anyone guessing at this system tries first, for the estimator's dictionary.
CONTEXT_WORDS = ("kazsat", "akkol", "kokterek", "operator", "engineer", "viewer", "monitor",
                 "satellite", "ground", "segment", "telemetry", "control", "password")
MIN_SCORE = 3  # zxcvbn's 0-4: 3 is "safely unguessable" (about 10^8 guesses and more)
ESTIMATED_LENGTH = 72  # zxcvbn judges this many characters (its limit): longer is as strong
_REPEATED_WORD = re.compile(r"(?i)^[\W_\d]*([a-z]{3,})(?:[\W_\d]*\1)+[\W_\d]*$")


def check_password_rules(password: str, name: str, min_length: int = 12) -> None:
    """Raise PasswordRejected naming the first rule the password breaks: length, the user
    name in it, then guessability as the zxcvbn estimator judges it (common passwords and
    words, sequences, keyboard walks, repeats, dates; with this system's own words and the
    user's name as dictionary words), its feedback in the message; and one word repeated."""
    if len(password) < min_length:
        raise PasswordRejected(f"the password must have at least {min_length} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRejected(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    if name and name.lower() in password.lower():
        raise PasswordRejected("the password must not contain the user name")
    if _REPEATED_WORD.match(password):
        raise PasswordRejected("the password is too easy to guess: repeated words are only "
                               "slightly harder to guess than one; add other, uncommon words")
    from zxcvbn import zxcvbn  # its dictionaries load in a fraction of a second, once

    verdict = zxcvbn(password[:ESTIMATED_LENGTH], user_inputs=[*CONTEXT_WORDS, name],
                     max_length=ESTIMATED_LENGTH)
    if verdict["score"] < MIN_SCORE:
        feedback = verdict["feedback"]
        advice = " ".join(x.rstrip(".") + "." for x in
                          [feedback.get("warning") or "", *feedback.get("suggestions", [])] if x)
        raise PasswordRejected("the password is too easy to guess"
                               + (f": {advice[:1].lower()}{advice[1:]}" if advice else ""))


def _user(row: Row[Any]) -> User:
    return User(row.id, row.name, row.role, bool(row.must_change_password), bool(row.disabled),
                row.created_t, row.last_login_t)


def _check_name_and_role(name: str, role: str) -> None:
    if not NAME_PATTERN.match(name):
        raise UserError("a user name is 1-64 characters: lower-case letters, digits, '.', '_' "
                        "or '-', starting with a letter or digit")
    if role not in USER_ROLES:
        raise UserError(f"role must be one of {', '.join(USER_ROLES)}")


def create_user(engine: Engine, name: str, role: str, password: str | None = None,
                must_change: bool = True, min_length: int = 12,
                now: int | None = None) -> str:
    """Add a user; returns the password (a generated one-time password unless given)."""
    _check_name_and_role(name, role)
    if password is None:
        password = one_time_password()
    else:
        check_password_rules(password, name, min_length)
    u = db.users.c
    with engine.begin() as conn:
        if conn.execute(select(u.id).where(u.name == name)).first():
            raise UserError(f"user {name!r} exists already")
        conn.execute(db.users.insert().values(
            name=name, role=role, password_hash=_hasher.hash(password),
            must_change_password=must_change, disabled=False,
            created_t=now if now is not None else time.time_ns()))
    log.info("user %s added (role %s)", name, role)
    return password


def get_user(engine: Engine, name: str) -> User | None:
    with db.reader(engine).connect() as conn:
        row = conn.execute(select(db.users).where(db.users.c.name == name)).first()
    return _user(row) if row else None


def list_users(engine: Engine) -> list[User]:
    with db.reader(engine).connect() as conn:
        return [_user(r) for r in conn.execute(select(db.users).order_by(db.users.c.name))]


def count_users(engine: Engine) -> int:
    with db.reader(engine).connect() as conn:
        return conn.execute(select(func.count()).select_from(db.users)).scalar() or 0


def authenticate(engine: Engine, name: str, password: str,
                 now: int | None = None) -> User | None:
    """The user when the name and password match an enabled user, else None. Costs one
    argon2 verification either way."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
    with db.reader(engine).connect() as conn:
        row = conn.execute(select(db.users).where(db.users.c.name == name)).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    values: dict[str, object] = {"last_login_t": now if now is not None else time.time_ns()}
    if _hasher.check_needs_rehash(row.password_hash):
        values["password_hash"] = _hasher.hash(password)
    with engine.begin() as conn:
        conn.execute(update(db.users).where(db.users.c.id == row.id).values(**values))
    return _user(row)


def change_password(engine: Engine, name: str, old: str, new: str,
                    min_length: int = 12, keep_session: str | None = None) -> None:
    """Replace a password after checking the old one; every other session of the user ends
    (keep_session: the digest of the one that asked)."""
    user = authenticate(engine, name, old)
    if user is None:
        raise UserError("the current password is wrong")
    if new == old:
        raise PasswordRejected("the new password must differ from the current one")
    check_password_rules(new, name, min_length)
    with engine.begin() as conn:
        conn.execute(update(db.users).where(db.users.c.id == user.id).values(
            password_hash=_hasher.hash(new), must_change_password=False))
        s = db.sessions.c
        conn.execute(delete(db.sessions).where(
            s.user_id == user.id, *([s.hash != keep_session] if keep_session else [])))
    log.info("user %s changed their password", name)


def reset_password(engine: Engine, name: str) -> str:
    """A new one-time password for the user (to change at the next login); their sessions
    end."""
    user = get_user(engine, name)
    if user is None:
        raise UserError(f"no user {name!r}")
    password = one_time_password()
    with engine.begin() as conn:
        conn.execute(update(db.users).where(db.users.c.id == user.id).values(
            password_hash=_hasher.hash(password), must_change_password=True))
        conn.execute(delete(db.sessions).where(db.sessions.c.user_id == user.id))
    log.info("password of user %s reset", name)
    return password


def set_disabled(engine: Engine, name: str, disabled: bool = True) -> None:
    """Disable (or enable again) a user; a disabled user's sessions end at once."""
    user = get_user(engine, name)
    if user is None:
        raise UserError(f"no user {name!r}")
    with engine.begin() as conn:
        conn.execute(update(db.users).where(db.users.c.id == user.id).values(disabled=disabled))
        if disabled:
            conn.execute(delete(db.sessions).where(db.sessions.c.user_id == user.id))
    log.info("user %s %s", name, "disabled" if disabled else "enabled")


def open_session(engine: Engine, user: User, max_s: float,
                 now: int | None = None) -> tuple[str, Session]:
    """A new session for the user: (the token, shown only now; the session)."""
    now = now if now is not None else time.time_ns()
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    session = Session(user, digest(token), now, now, now + int(max_s * 1e9))
    with engine.begin() as conn:
        conn.execute(db.sessions.insert().values(
            hash=session.digest, user_id=user.id, created_t=now, last_seen_t=now,
            expires_t=session.expires_t))
    return token, session


def find_session(engine: Engine, token_digest: str, idle_s: float,
                 now: int | None = None) -> Session | None:
    """The live session with that token digest: not past its lifetime, not idle longer than
    idle_s, its user enabled. None otherwise."""
    now = now if now is not None else time.time_ns()
    s, u = db.sessions.c, db.users.c
    with db.reader(engine).connect() as conn:
        row = conn.execute(
            select(s.created_t, s.last_seen_t, s.expires_t, db.users)
            .join(db.users, u.id == s.user_id).where(s.hash == token_digest)).first()
    if row is None or row.disabled:
        return None
    session = Session(_user(row), token_digest, row.created_t, row.last_seen_t, row.expires_t)
    return session if alive(session, idle_s, now) else None


def alive(session: Session, idle_s: float, now: int) -> bool:
    return now < session.expires_t and now - session.last_seen_t < idle_s * 1e9


def touch_session(engine: Engine, token_digest: str, now: int | None = None) -> None:
    """Record use of the session (its idle timeout starts again)."""
    now = now if now is not None else time.time_ns()
    with engine.begin() as conn:
        conn.execute(update(db.sessions).where(db.sessions.c.hash == token_digest)
                     .values(last_seen_t=now))


def close_session(engine: Engine, token_digest: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(db.sessions).where(db.sessions.c.hash == token_digest))


def expire_sessions(engine: Engine, idle_s: float, now: int | None = None) -> int:
    """Delete sessions past their lifetime or idle timeout; returns how many."""
    now = now if now is not None else time.time_ns()
    s = db.sessions.c
    with engine.begin() as conn:
        return conn.execute(delete(db.sessions).where(or_(
            s.expires_t <= now, s.last_seen_t <= now - int(idle_s * 1e9)))).rowcount or 0
