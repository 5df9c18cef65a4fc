"""Rollup answers equal aggregates computed straight from the raw samples: random data,
ranges, bucket widths, gaps, out-of-order arrival and resent batches."""

import itertools
import math
import random
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from backend import db
from backend.store.base import LEVELS_S, NS, Batch
from backend.store.sql import SqlStore, bucket_width
from tests.compacting import CompactingStore

T0 = 1_764_000_000 * NS
SPAN_S = 12 * 86_400  # wide enough to use the 1 h and 1 d levels


def fresh_store(tmp_path_factory, layout: str = "rows") -> SqlStore:
    """A new SQLite store; layout "blocks" seals everything into blocks after each write."""
    engine = db.make_engine(f"sqlite:///{tmp_path_factory.mktemp('roll') / 'r.db'}")
    db.upgrade(engine)
    return CompactingStore(engine) if layout == "blocks" else SqlStore(engine)


LAYOUTS = ["rows", "blocks"]


@pytest.fixture(scope="module", params=LAYOUTS)
def shared(tmp_path_factory, request):
    """One store for all examples; each example takes two series ids of its own."""
    store = fresh_store(tmp_path_factory, request.param)
    yield store, itertools.count(1, 2)
    store.close()


samples_st = st.lists(
    st.tuples(st.sampled_from([1, 2]),
              st.one_of(st.integers(0, SPAN_S * NS), st.integers(0, 3600 * NS),
                        st.integers(0, 300 * NS)),  # sparse over days, dense in minutes
              st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
    min_size=5, max_size=400, unique_by=lambda s: (s[0], s[1]))


def synthetic(rng: random.Random, n: int, spacing_s: float) -> list[tuple[int, int, float]]:
    """Two series of n samples each with random gaps around spacing_s (some long outages)."""
    out = []
    for sid in (1, 2):
        t = rng.randrange(0, 3600 * NS)
        for _ in range(n):
            gap = rng.expovariate(1 / spacing_s) * (50 if rng.random() < 0.02 else 1)
            t += max(1, int(gap * NS))
            out.append((sid, t, round(rng.uniform(-1e3, 1e3), rng.choice([0, 3, 9]))))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(60, 500), spacing=st.sampled_from([0.5, 1, 10, 60, 900, 3600, 20_000]),
       seed=st.integers(0, 2**32), max_points=st.integers(2, 40))
def test_range_matches_raw(shared, n, spacing, seed, max_points):
    store, ids = shared
    first = next(ids)
    rng = random.Random(seed)
    samples = [(first + sid - 1, t, v) for sid, t, v in synthetic(rng, n, spacing)]
    shuffled = samples[:]
    rng.shuffle(shuffled)  # out-of-order arrival, in random batches, some sent twice
    cuts = sorted(rng.sample(range(len(shuffled) + 1), min(4, len(shuffled) + 1)))
    for lo, hi in zip([0, *cuts], [*cuts, len(shuffled)]):
        part = shuffled[lo:hi]
        batch = Batch([s[0] for s in part], [T0 + s[1] for s in part], [s[2] for s in part])
        store.write(batch)
        if rng.random() < 0.3:
            assert len(store.write(batch)) == 0  # a resent batch adds nothing
    last = max(t for _, t, _ in samples)
    a, b = sorted(int(rng.uniform(-0.1, 1.1) * last) for _ in range(2))
    start, end = T0 + a, T0 + b + 1
    inside = sorted((t + T0, v) for sid, t, v in samples
                    if sid == first and start <= t + T0 < end)
    result = store.range(first, start, end, max_points)
    event(f"{result.resolution} {'samples' if result.buckets is None else 'buckets'}")
    if len(inside) <= max_points:
        assert result.resolution == "raw"
        assert list(zip(result.times, result.values)) == inside
        return
    width = round(result.bucket_s * NS)
    assert width == bucket_width(end - start, max_points)[0]
    expected: dict[int, list[float]] = {}
    for t, v in inside:
        expected.setdefault(t // width * width, []).append(v)
    b_ = result.buckets
    assert len(b_.times) <= max_points
    assert b_.times == sorted(expected)
    for i, k in enumerate(b_.times):
        values = expected[k]
        assert (b_.min[i], b_.max[i], b_.count[i]) == (min(values), max(values), len(values))
        assert math.isclose(b_.mean[i], sum(values) / len(values), rel_tol=1e-9, abs_tol=1e-6)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(samples=samples_st, seed=st.integers(0, 2**32))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_stored_rollups_equal_aggregates_of_raw(tmp_path_factory, layout, samples, seed):
    """Every rollup row (min, max, sum, count, first, last) equals the raw aggregate, and a
    rebuild from raw (rows and blocks) gives the same rows."""
    store = fresh_store(tmp_path_factory, layout)
    rng = random.Random(seed)
    rng.shuffle(samples)
    for i in range(0, len(samples), 37):
        part = samples[i:i + 37]
        store.write(Batch([s[0] for s in part], [T0 + s[1] for s in part], [s[2] for s in part]))
    rows = table_rollups(store)
    expected = {}
    for level in LEVELS_S:
        for sid, t, v in sorted(samples, key=lambda s: s[1]):
            key = (level, sid, (T0 + t) // (level * NS) * level * NS)
            e = expected.setdefault(key, [math.inf, -math.inf, 0.0, 0, None, None, None, None])
            e[0], e[1], e[2], e[3] = min(e[0], v), max(e[1], v), e[2] + v, e[3] + 1
            if e[4] is None:
                e[4], e[5] = T0 + t, v
            e[6], e[7] = T0 + t, v
    got = {(r.level, r.series_id, r.bucket_t): r for r in rows}
    assert set(got) == set(expected)
    for key, e in expected.items():
        r = got[key]
        assert (r.min, r.max, r.count, r.first_t, r.first, r.last_t, r.last) == \
            (e[0], e[1], e[3], e[4], e[5], e[6], e[7])
        assert math.isclose(r.sum, e[2], rel_tol=1e-9, abs_tol=1e-6)
    with store.engine.begin() as conn:
        conn.execute(db.series.insert(), [{"id": i, "satellite": str(i), "station": "",
                                           "parameter": "p"} for i in (1, 2)])
        conn.execute(db.rollups.delete())  # lose them all; the rebuild must bring them back
    store.rebuild_rollups()
    rebuilt = {(r.level, r.series_id, r.bucket_t): (r.min, r.max, r.count, r.first, r.last)
               for r in table_rollups(store)}
    assert rebuilt == {k: (r.min, r.max, r.count, r.first, r.last) for k, r in got.items()}
    store.close()


def table_rollups(store: SqlStore) -> list:
    """Every rollup row; with sealed history, the minute ones of sealed segments are not in
    the table but computed from the blocks (what every read of the minute level uses)."""
    with store.reader.connect() as conn:
        rows = conn.execute(db.rollups.select().where(db.rollups.c.level > LEVELS_S[0])).all()
        rows += conn.execute(db.rollups.select().where(db.rollups.c.level == LEVELS_S[0])).all() \
            if not isinstance(store, CompactingStore) else []
        if isinstance(store, CompactingStore):
            names = ("level", "series_id", "bucket_t", "min", "max", "sum", "count", "first_t",
                     "first", "last_t", "last")
            for sid in (1, 2):
                rows += [SimpleNamespace(**dict(zip(names, (LEVELS_S[0], sid, *r))))
                         for r in store._minute_rows(conn, sid, 0, 2**62, [])]
    return rows


@pytest.mark.parametrize("layout", LAYOUTS)
def test_latest_and_at(tmp_path_factory, layout):
    store = fresh_store(tmp_path_factory, layout)
    with store.engine.begin() as conn:
        conn.execute(db.series.insert(), [{"id": 1, "satellite": "a", "station": "",
                                           "parameter": "p"}])
    store.write(Batch([1, 1, 1], [T0 + 3 * NS, T0 + NS, T0 + 2 * NS], [3.0, 1.0, 2.0]))
    store.write(Batch([1], [T0], [0.0]))  # late: latest must not move back
    assert store.latest() == {1: (T0 + 3 * NS, 3.0)}
    assert store.at(T0 + 2 * NS + 5) == {1: (T0 + 2 * NS, 2.0)}
    assert store.at(T0 - 1) == {}
