"""Properties of the NEPH (services/instruction/rules.py and its counter in storage.py).

The pure rules are checked over any decision moment and any department; allocation is
checked by replaying random sequences of decisions against the real counter
(``storage.next_order``) on an in-memory SQLite database, beside a plain model.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from services.common.errors import ErrorCode, PermisError
from services.instruction import rules, storage

DEPARTMENTS = sorted(rules.METROPOLITAN_DEPARTMENTS | rules.OVERSEAS_DEPARTMENTS)

departments = st.sampled_from(DEPARTMENTS)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=offsets
)
orders = st.integers(min_value=1, max_value=rules.MAX_ORDER)


@given(moment=moments, department=departments, order=orders)
def test_a_neph_is_twelve_digits_in_its_four_parts(
    moment: datetime, department: str, order: int
) -> None:
    series = rules.neph_series(moment, department)
    neph = rules.format_neph(series, order)

    assert rules.NEPH_PATTERN.match(neph) and len(neph) == 12
    assert rules.is_well_formed_neph(neph)
    assert neph[:4] == moment.astimezone(UTC).strftime("%y%m")  # YYMM of the decision, UTC
    assert int(neph[8:]) == order
    if department in rules.OVERSEAS_DEPARTMENTS:
        assert (neph[4:6], neph[6:8]) == ("97", f"0{department[-1]}")
    elif department in ("2A", "2B"):
        assert (neph[4:6], neph[6:8]) == ("20", "01")
    else:
        assert (neph[4:6], neph[6:8]) == (department, "01")


@given(moment=moments, first=departments, second=departments)
def test_series_are_distinct_unless_the_departments_share_one(
    moment: datetime, first: str, second: str
) -> None:
    same = first == second or {first, second} == {"2A", "2B"}
    assert (rules.neph_series(moment, first) == rules.neph_series(moment, second)) == same


@given(
    moment=moments,
    department=departments,
    order=st.integers().filter(lambda n: not 1 <= n <= rules.MAX_ORDER),
)
def test_orders_outside_1_to_9999_are_exhaustion_never_a_longer_number(
    moment: datetime, department: str, order: int
) -> None:
    with pytest.raises(PermisError) as refused:
        rules.format_neph(rules.neph_series(moment, department), order)
    assert refused.value.code is ErrorCode.NEPH_EXHAUSTED


@given(department=st.text(max_size=4).filter(lambda d: d not in DEPARTMENTS), moment=moments)
def test_unknown_departments_get_no_series(department: str, moment: datetime) -> None:
    with pytest.raises(PermisError) as refused:
        rules.neph_series(moment, department)
    assert refused.value.code in (ErrorCode.MISSING_FIELDS, ErrorCode.INVALID_FIELD)


@given(neph=st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_well_formed_nephs_round_trip_through_their_series(neph: str) -> None:
    if not rules.is_well_formed_neph(neph):
        return
    department = neph[4:6]
    if department == "97":
        department = f"97{neph[7]}"
    elif department == "20":
        department = "2A"
    moment = datetime(2000 + int(neph[:2]), int(neph[2:4]), 15, tzinfo=UTC)
    assert rules.format_neph(rules.neph_series(moment, department), int(neph[8:])) == neph


# ---- allocation against the real counter ----------------------------------------------

decisions = st.lists(
    st.tuples(
        st.sampled_from(["69", "75", "2A", "2B", "971", "976", "13"]),
        st.sampled_from(
            [
                datetime(2026, 3, 1, 0, 0, tzinfo=UTC),
                datetime(2026, 3, 31, 23, 59, tzinfo=UTC),
                datetime(2026, 4, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))),  # 31/03 UTC
                datetime(2026, 4, 15, 12, 0, tzinfo=UTC),
            ]
        ),
    ),
    min_size=1,
    max_size=40,
)


async def allocate(plan: list[tuple[str, datetime]], start_at: int = 0) -> list[tuple[str, str]]:
    """(series key, NEPH) per decision, in order, each in its own transaction."""
    engine = create_async_engine(
        "sqlite+aiosqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    try:
        async with engine.begin() as connection:
            await connection.run_sync(storage.NephCounter.metadata.create_all)
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        given_out = []
        for department, moment in plan:
            series = rules.neph_series(moment, department)
            async with sessionmaker.begin() as session:
                order = await storage.next_order(session, series)
                if start_at and order == 1:  # jump the fresh counter close to the end
                    await session.execute(
                        update(storage.NephCounter)
                        .where(storage.NephCounter.yymm == series.yymm)
                        .values(last_order=start_at)
                    )
                    order = await storage.next_order(session, series)
                neph = rules.format_neph(series, order)
            given_out.append((f"{series.yymm}{series.department}{series.prefecture}", neph))
        return given_out
    finally:
        await engine.dispose()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=decisions)
def test_orders_are_consecutive_increasing_and_unique_within_a_series(
    plan: list[tuple[str, datetime]],
) -> None:
    given_out = asyncio.run(allocate(plan))

    assert len({neph for _, neph in given_out}) == len(given_out)  # never twice
    by_series: dict[str, list[int]] = defaultdict(list)
    for (key, neph), (_department, moment) in zip(given_out, plan, strict=True):
        assert neph.startswith(key)
        assert neph[:4] == moment.astimezone(UTC).strftime("%y%m")
        by_series[key].append(int(neph[8:]))
    for numbers in by_series.values():
        assert numbers == list(range(1, len(numbers) + 1))  # 1, 2, 3… strictly increasing


def test_a_series_is_exhausted_after_9999_and_others_go_on() -> None:
    march = datetime(2026, 3, 10, tzinfo=UTC)
    plan = [("69", march), ("69", march), ("69", march)]
    with pytest.raises(PermisError) as refused:
        asyncio.run(allocate(plan, start_at=rules.MAX_ORDER - 2))
    assert refused.value.code is ErrorCode.NEPH_EXHAUSTED

    last_two = asyncio.run(allocate(plan[:2], start_at=rules.MAX_ORDER - 2))
    assert [neph for _, neph in last_two] == ["260369019998", "260369019999"]
    other = asyncio.run(allocate([("69", datetime(2026, 4, 1, 12, tzinfo=UTC))]))
    assert other == [("26046901", "260469010001")]
