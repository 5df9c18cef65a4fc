"""Users, passwords and sessions (backend/users.py), the session side of TokenCache, and the
rate limiters (`limits`; failed logins counted in SQL), with clocks the tests move: no
sleeping."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend import db, users
from backend.ratelimit import Backoff, IngestLimiter, LoginThrottle, doubling_delays
from backend.ratelimit_store import SqlStorage
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


def test_backoff_and_a_stranger_cannot_lock_a_known_device_out(engine) -> None:
    now = [1_000_000.0]
    storage = SqlStorage(engine, clock=lambda: now[0])
    b = Backoff(storage, "k", free=3, window_s=600, max_delay_s=300)
    for _ in range(3):
        assert b.retry_after("k") is None
        b.failed("k")
    assert b.retry_after("k") == pytest.approx(1)  # then 1, 2, 4 … s
    b.failed("k")
    assert b.retry_after("k") == pytest.approx(2)
    now[0] += 1.5
    assert b.retry_after("k") == pytest.approx(0.5)  # counted from the last failure
    now[0] += 700.0
    assert b.retry_after("k") is None  # out of the window
    slow = Backoff(storage, "slow", free=1, window_s=600, max_delay_s=100, first_delay_s=30)
    for wait in (30, 60, 100, 100):  # doubling from the first delay, up to the maximum
        slow.failed("k")
        assert slow.retry_after("k") == pytest.approx(wait)
    assert doubling_delays(1, 300) == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    throttle = LoginThrottle(storage, per_name=2, per_address=3, window_s=60,
                             per_name_any_address=4)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
        throttle.failed("Dana", address)
    assert throttle.retry_after("dana", "10.0.0.9") is not None  # by name, from anywhere
    assert throttle.retry_after("dana", "10.0.0.9", device="cookie") is None  # known client
    throttle.failed("dana", "10.0.0.9", device="cookie")
    throttle.failed("dana", "10.0.0.9", device="cookie")
    assert throttle.retry_after("dana", "10.0.0.9", device="cookie") is not None
    assert throttle.clear("dana") == 6  # the unlock: the name, its 4 addresses, the device
    assert throttle.retry_after("dana", "10.0.0.9", device="cookie") is None
    assert throttle.retry_after("dana", "10.0.0.1") is None


def test_login_counts_are_shared_through_the_database_and_survive_a_restart(tmp_path) -> None:
    """Two API processes on one database (two sites) see one count; so does a restart."""
    settings = Settings(data_dir=tmp_path, login_max_failures=2, login_first_delay_s=60)
    akkol, kokterek = open_database(settings), open_database(settings)
    try:
        at_akkol = LoginThrottle.from_settings(SqlStorage(akkol), settings)
        at_kokterek = LoginThrottle.from_settings(SqlStorage(kokterek), settings)
        at_akkol.failed("aigerim", "10.1.0.1")
        at_kokterek.failed("aigerim", "10.1.0.1")
        for site in (at_akkol, at_kokterek):  # locked out at both, for about a minute
            assert 55 < site.retry_after("aigerim", "10.1.0.1") <= 60
        restarted = LoginThrottle.from_settings(SqlStorage(open_database(settings)), settings)
        assert restarted.retry_after("aigerim", "10.1.0.1") is not None
        assert at_kokterek.clear("aigerim") == 2  # the unlock, made at one site…
        assert at_akkol.retry_after("aigerim", "10.1.0.1") is None  # …holds at the other
        assert at_akkol.addresses.retry_after("10.1.0.1") is None  # 2 of 20: still free
    finally:
        akkol.dispose()
        kokterek.dispose()


def test_a_name_is_a_key_of_its_own_whatever_it_holds(engine) -> None:
    storage = SqlStorage(engine)
    throttle = LoginThrottle(storage, per_name=1, per_address=100, window_s=60)
    throttle.failed("a/b", "c")  # not the name "a" from the address "b/c"
    assert throttle.retry_after("a/b", "c") is not None
    assert throttle.retry_after("a", "b/c") is None
    assert throttle.clear("a") == 0 and throttle.clear("a%") == 0
    assert throttle.clear("A/B") == 2


def test_the_sql_storage_serves_limits_fixed_and_moving_windows(engine) -> None:
    from limits import RateLimitItemPerMinute
    from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

    now = [5_000.0]
    storage = SqlStorage(engine, clock=lambda: now[0])
    three = RateLimitItemPerMinute(3)
    for strategy in (FixedWindowRateLimiter(storage), MovingWindowRateLimiter(storage)):
        assert [strategy.hit(three, "x") for _ in range(4)] == [True, True, True, False]
        stats = strategy.get_window_stats(three, "x")
        assert stats.remaining == 0 and stats.reset_time == pytest.approx(now[0] + 60)
        assert strategy.hit(three, "y")  # another key
        now[0] += 61
        assert strategy.test(three, "x") and strategy.hit(three, "x")
        strategy.clear(three, "x")
        assert strategy.get_window_stats(three, "x").remaining == 3
        now[0] += 100
    assert MovingWindowRateLimiter(storage).hit(three, "z")
    with engine.connect() as conn:  # spent hits are deleted as new ones arrive
        assert [r.key for r in conn.execute(select(db.rate_limits))] == [three.key_for("z")]
    assert storage.check() and storage.reset() == 1


def test_ingest_limiter() -> None:
    limiter = IngestLimiter(rate_per_s=1, burst=5)  # 5 within any 5 s
    assert all(limiter.take("t") is None for _ in range(5))
    wait = limiter.take("t")
    assert wait is not None and 0 < wait <= 5
    assert limiter.take("other") is None
    assert IngestLimiter(rate_per_s=0, burst=1).take("t") is None  # 0: no limit
    assert IngestLimiter(200, 1000).item.get_expiry() == 5  # the default: 1,000 per 5 s


def test_trusted_proxies_by_address_and_network() -> None:
    from backend.api.auth import trusted

    proxies = ["127.0.0.1", "::1", "172.16.0.0/12"]
    assert trusted("127.0.0.1", proxies) and trusted("::1", proxies)
    assert trusted("172.18.0.5", proxies)
    assert not trusted("10.0.0.5", proxies) and not trusted("testclient", proxies)
