"""Users, passwords and sessions (backend/users.py), the session side of TokenCache, and the
rate limiters, with clocks the tests move: no sleeping."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend import db, users
from backend.ratelimit import Backoff, LoginThrottle, TokenBucket
from backend.services import open_database
from backend.settings import Settings
from backend.tokens import TokenCache, create_token

S = 10**9
GOOD = "correct horse battery"


@pytest.fixture
def engine(tmp_path):
    e = open_database(Settings(data_dir=tmp_path))
    yield e
    e.dispose()


def test_a_new_user_gets_a_one_time_password_stored_as_argon2(engine) -> None:
    password = users.create_user(engine, "aigerim", "operator")
    assert len(password) == 16
    with engine.connect() as conn:
        stored = conn.execute(select(db.users.c.password_hash)).scalar()
    assert stored.startswith("$argon2id$") and password not in stored
    user = users.authenticate(engine, "aigerim", password)
    assert user and user.role == "operator" and user.must_change_password
    assert users.authenticate(engine, "aigerim", password + "x") is None
    assert users.authenticate(engine, "nobody", password) is None
    assert users.get_user(engine, "aigerim").last_login_t is not None


@pytest.mark.parametrize(("name", "role", "message"), [
    ("Aigerim", "operator", "user name"), ("a b", "viewer", "user name"),
    ("x" * 65, "viewer", "user name"), ("nurlan", "admin", "role must be one of"),
    ("nurlan", "ingest", "role must be one of")])
def test_bad_names_and_roles_are_refused(engine, name, role, message) -> None:
    with pytest.raises(users.UserError, match=message):
        users.create_user(engine, name, role)


def test_a_name_is_taken_once(engine) -> None:
    users.create_user(engine, "dana", "viewer")
    with pytest.raises(users.UserError, match="exists already"):
        users.create_user(engine, "dana", "engineer")


@pytest.mark.parametrize(("password", "message"), [
    ("short1!", "at least 12"), ("x" * 300, "at most 256"), ("my-name-is-marat!", "user name"),
    ("aaaaaaaaaaaaaaaa", "too easy"), ("password123456", "commonly used password"),
    ("abcdefghijkl", "sequences like"), ("kazsat-kazsat", "repeated words"),
    ("Horse-horse-2024", "repeated words"), ("qwertyuiopas", "too easy"),
    ("1qaz2wsx3edc4rfv", "very common password"), ("kazsat123456", "too easy"),
    ("zxcvbnm,./asd", "too easy")])
def test_password_rules(password, message) -> None:
    with pytest.raises(users.PasswordRejected, match=message):
        users.check_password_rules(password, "marat")
    users.check_password_rules(GOOD, "marat")
    users.check_password_rules("kokterek-night-shift", "marat")
    users.check_password_rules("é" * 40 + "-steppe-wind-1997-" * 12, "marat")  # 256: judged


def test_changing_the_password_clears_must_change_and_ends_other_sessions(engine) -> None:
    first = users.create_user(engine, "marat", "engineer")
    user = users.authenticate(engine, "marat", first)
    _, here = users.open_session(engine, user, 3600)
    _, elsewhere = users.open_session(engine, user, 3600)
    with pytest.raises(users.UserError, match="current password is wrong"):
        users.change_password(engine, "marat", "wrong", GOOD)
    with pytest.raises(users.PasswordRejected, match="differ"):
        users.change_password(engine, "marat", first, first)
    users.change_password(engine, "marat", first, GOOD, keep_session=here.digest)
    assert users.authenticate(engine, "marat", first) is None
    assert not users.authenticate(engine, "marat", GOOD).must_change_password
    assert users.find_session(engine, here.digest, 3600) is not None
    assert users.find_session(engine, elsewhere.digest, 3600) is None


def test_reset_and_disable_end_sessions(engine) -> None:
    first = users.create_user(engine, "saule", "viewer", GOOD, must_change=False)
    user = users.authenticate(engine, "saule", first)
    _, s = users.open_session(engine, user, 3600)
    again = users.reset_password(engine, "saule")
    assert users.find_session(engine, s.digest, 3600) is None
    user = users.authenticate(engine, "saule", again)
    assert user.must_change_password
    _, s = users.open_session(engine, user, 3600)
    users.set_disabled(engine, "saule")
    assert users.find_session(engine, s.digest, 3600) is None
    assert users.authenticate(engine, "saule", again) is None
    with pytest.raises(users.UserError, match="no user"):
        users.set_disabled(engine, "nobody")


def test_sessions_end_at_their_lifetime_and_when_idle(engine) -> None:
    users.create_user(engine, "timur", "operator", GOOD)
    user = users.get_user(engine, "timur")
    t0 = 1_000 * S
    _, s = users.open_session(engine, user, max_s=3600, now=t0)
    assert s.expires_t == t0 + 3600 * S
    idle = 600
    assert users.find_session(engine, s.digest, idle, now=t0 + 599 * S)
    assert users.find_session(engine, s.digest, idle, now=t0 + 600 * S) is None  # idle
    users.touch_session(engine, s.digest, now=t0 + 500 * S)
    assert users.find_session(engine, s.digest, idle, now=t0 + 1000 * S)
    for k in range(1, 8):  # kept busy, it still ends at its absolute lifetime
        users.touch_session(engine, s.digest, now=t0 + k * 500 * S)
    assert users.find_session(engine, s.digest, idle, now=t0 + 3599 * S)
    assert users.find_session(engine, s.digest, idle, now=t0 + 3600 * S) is None
    assert users.expire_sessions(engine, idle, now=t0 + 3600 * S) == 1


def test_token_cache_resolves_sessions_cheaply_and_honours_expiry(engine) -> None:
    users.create_user(engine, "aliya", "viewer", GOOD, must_change=False)
    clock = [10_000 * S]
    cache = TokenCache(engine, idle_s=600, session_ttl_s=5, clock=lambda: clock[0])
    token, s = users.open_session(engine, users.get_user(engine, "aliya"), 3600, now=clock[0])
    p = cache.verify(token)
    assert (p.name, p.role, p.session, p.must_change_password) == ("aliya", "viewer",
                                                                    s.digest, False)
    assert p.may("read") and not p.may("ack")
    # Polled every second for longer than the idle timeout: alive, its last use written
    # now and then (not on every request).
    for _ in range(900):
        clock[0] += S
        assert cache.verify(token) is not None
    with engine.connect() as conn:
        seen = conn.execute(select(db.sessions.c.last_seen_t)).scalar()
    assert clock[0] - seen <= 60 * S
    clock[0] += 600 * S  # idle
    assert cache.verify(token) is None
    # Logout elsewhere (another process) is seen within session_ttl_s; `forget` at once.
    token, s = users.open_session(engine, users.get_user(engine, "aliya"), 3600, now=clock[0])
    assert cache.verify(token)
    users.close_session(engine, s.digest)
    assert cache.verify(token)  # cached for up to 5 s
    clock[0] += 5 * S
    assert cache.verify(token) is None
    token, s = users.open_session(engine, users.get_user(engine, "aliya"), 3600, now=clock[0])
    assert cache.verify(token)
    users.close_session(engine, s.digest)
    cache.forget(s.digest)
    assert cache.verify(token) is None
    # API tokens are unchanged.
    api = create_token(engine, "operator", "console")
    assert cache.verify(api).name == "console" and cache.verify(api).session is None
    assert cache.verify("kss_forged") is None


def test_backoff_and_a_stranger_cannot_lock_a_known_device_out() -> None:
    now = [0.0]
    b = Backoff(free=3, window_s=600, max_delay_s=300, clock=lambda: now[0])
    for _ in range(3):
        assert b.retry_after("k") is None
        b.failed("k")
    assert b.retry_after("k") == pytest.approx(1)  # then 1, 2, 4 … s
    b.failed("k")
    assert b.retry_after("k") == pytest.approx(2)
    now[0] = 700.0
    assert b.retry_after("k") is None  # out of the window
    slow = Backoff(free=1, window_s=600, max_delay_s=100, clock=lambda: now[0],
                   first_delay_s=30)
    for wait in (30, 60, 100, 100):  # doubling from the first delay, up to the maximum
        slow.failed("k")
        assert slow.retry_after("k") == pytest.approx(wait)
    throttle = LoginThrottle(per_name=2, per_address=3, window_s=60, per_name_any_address=4,
                             clock=lambda: now[0])
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
        throttle.failed("Dana", address)
    assert throttle.retry_after("dana", "10.0.0.9") is not None  # by name, from anywhere
    assert throttle.retry_after("dana", "10.0.0.9", device="cookie") is None  # known client
    throttle.failed("dana", "10.0.0.9", device="cookie")
    throttle.failed("dana", "10.0.0.9", device="cookie")
    assert throttle.retry_after("dana", "10.0.0.9", device="cookie") is not None
    assert throttle.clear("dana") == 6  # the unlock: the name, its 4 addresses, the device
    assert throttle.retry_after("dana", "10.0.0.9", device="cookie") is None


def test_token_bucket() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=10, burst=5, clock=lambda: now[0])
    assert all(bucket.take("t") is None for _ in range(5))
    assert bucket.take("t") == pytest.approx(0.1)
    assert bucket.take("other") is None
    now[0] += 0.1
    assert bucket.take("t") is None
    assert TokenBucket(rate=0, burst=1).take("t") is None  # 0: no limit


def test_trusted_proxies_by_address_and_network() -> None:
    from backend.api.auth import trusted

    proxies = ["127.0.0.1", "::1", "172.16.0.0/12"]
    assert trusted("127.0.0.1", proxies) and trusted("::1", proxies)
    assert trusted("172.18.0.5", proxies)
    assert not trusted("10.0.0.5", proxies) and not trusted("testclient", proxies)
