"""The segment store's bulk paths, used by a pass over every customer: members added and
removed in a few statements (reporting only what changed), only the traits a definition
reads, and pages of live customers. SQLite and, when reachable, PostgreSQL."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from omnicx.bootstrap import Services, build
from omnicx.config import Settings
from omnicx.db.migrate import upgrade
from omnicx.kernel import FixedClock
from omnicx.kernel.moments import micros
from omnicx.orchestration.segments import Facts, matches, parse_condition
from omnicx.orchestration.store.segments import SqlSegmentRepository
from omnicx.profiles import ProfileWriter
from omnicx.profiles.identifiers import normalize
from tests.conftest import table_counts

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def services(make_settings: Callable[..., Settings]) -> Iterator[Services]:
    built = build(make_settings(segment_scan_batch=3), clock=FixedClock(START))
    upgrade(built.engines)
    yield built
    built.close()


def customer(services: Services, email: str, **traits: object) -> str:
    with services.uow() as uow:
        writer = ProfileWriter(
            services.profiles(uow), services.rules, uow.clock.now(), uow.raise_event
        )
        profile_id = writer.resolve(
            [normalize("email", email, "BR")], event_id=None, channel="web", source_id=None
        )
        assert profile_id is not None
        if traits:
            writer.set_traits(
                profile_id, traits, ts=micros(START), channel="web", source_id=None, event_id=None
            )
        writer.flush()
        uow.commit()
    return profile_id


def test_enter_and_exit_many_report_and_record_only_what_changed(services: Services) -> None:
    at = START + timedelta(minutes=5)
    with services.uow() as uow:
        repo = SqlSegmentRepository(uow.conn, services.cipher)
        assert repo.enter("s1", "p2", START)
        entered = repo.enter_many([("s1", "p3"), ("s1", "p2"), ("s2", "p1"), ("s1", "p1")], at)
        gone = repo.exit_many([("s2", "p1"), ("s2", "p9"), ("s1", "p3")], at)
        nothing = (repo.enter_many([], at), repo.exit_many([], at))
        members = repo.current({"p1", "p2", "p3"}, ["s1", "s2"])
        history = [
            (h["segment_id"], h["profile_id"], h["change"])
            for h in repo.history({"p1", "p2", "p3", "p9"})
        ]
        since = dict(repo.sample("s1", 10))
        uow.commit()

    assert entered == [("s1", "p3"), ("s2", "p1"), ("s1", "p1")]
    assert gone == [("s2", "p1"), ("s1", "p3")]
    assert nothing == ([], [])
    assert members == {("s1", "p1"), ("s1", "p2")}
    assert history == [
        ("s1", "p2", "entered"),
        ("s1", "p3", "entered"),
        ("s2", "p1", "entered"),
        ("s1", "p1", "entered"),
        ("s2", "p1", "exited"),
        ("s1", "p3", "exited"),
    ]
    assert since == {"p2": START, "p1": at}


def test_traits_reads_only_the_keys_asked_for(services: Services) -> None:
    ana = customer(services, "ana@example.com", tier="gold", age=31, address={"city": "Recife"})
    bob = customer(services, "bob@example.com", age=40)
    with services.uow(write=False) as uow:
        repo = SqlSegmentRepository(uow.conn, services.cipher)
        every = repo.traits([ana, bob])
        some = repo.traits([ana, bob], {"tier", "address", "address.city"})
        none = repo.traits([ana, bob], set())

    assert every[ana] == {"tier": "gold", "age": 31, "address": {"city": "Recife"}}
    assert every[bob] == {"age": 40}
    assert some == {ana: {"tier": "gold", "address": {"city": "Recife"}}}
    assert none == {}


def test_live_page_lists_live_customers_in_order_with_their_creation(services: Services) -> None:
    ids = sorted(customer(services, f"c{n}@example.com") for n in range(5))
    with services.uow(write=False) as uow:
        repo = SqlSegmentRepository(uow.conn, services.cipher)
        first = repo.live_page("", 3)
        rest = repo.live_page(list(first)[-1], 3)

    assert list(first) == ids[:3]
    assert list(rest) == ids[3:]
    assert set(first.values()) | set(rest.values()) == {START}
    assert all(t.tzinfo is not None for t in first.values())


def test_a_new_segment_is_evaluated_for_everyone_in_scan_batches(services: Services) -> None:
    gold = [customer(services, f"g{n}@example.com", tier="gold") for n in range(4)]
    for n in range(3):
        customer(services, f"s{n}@example.com", tier="silver")
    while services.evaluate_segments():
        pass
    with services.uow() as uow:
        segment = services.segmenter.create(
            uow, "Gold", "", {"trait": "tier", "op": "eq", "value": "gold"}
        )
        uow.commit()
    timeline_before = table_counts(services, "events")["events"]

    passes = 0
    while services.evaluate_segments():
        passes += 1

    assert passes == 3  # seven customers, three per transaction
    with services.uow(write=False) as uow:
        repo = SqlSegmentRepository(uow.conn, services.cipher)
        assert repo.members_after(segment.id, "", 100) == sorted(gold)
    assert table_counts(services, "events")["events"] == timeline_before + 4


VARIED: list[dict[str, object]] = [
    {"tier": "gold", "vip": True, "score": 1, "tags": ["a", "b"], "address": {"city": "Recife"}},
    {"tier": "gold", "vip": 1, "score": 1.0, "tags": ["b"], "address": {"city": "Natal"}},
    {"tier": "silver", "vip": None, "score": True, "tags": []},
    {"tier": "silver", "score": 7},
    {"vip": False, "score": "7", "address": {"city": "Recife"}},
    {},
    {"tier": "gold", "vip": True, "score": 1, "tags": ["a", "b"], "address": {"city": "Recife"}},
]
TRAIT_CONDITIONS: dict[str, dict[str, object]] = {
    "eq": {"trait": "tier", "op": "eq", "value": "gold"},
    "ne": {"trait": "tier", "op": "ne", "value": "gold"},
    "bool": {"trait": "vip", "op": "eq", "value": True},
    "missing": {"trait": "vip", "op": "exists", "value": False},
    "number": {"trait": "score", "op": "gte", "value": 1},
    "contains": {"trait": "tags", "op": "contains", "value": "a"},
    "city": {"trait": "address.city", "op": "eq", "value": "Recife"},
    "tree": {
        "any": [
            {
                "all": [
                    {"trait": "tier", "op": "in", "value": ["silver"]},
                    {"not": {"trait": "vip", "op": "exists"}},
                ]
            },
            {"trait": "score", "op": "lt", "value": 2},
        ]
    },
}


def test_trait_segments_match_exactly_what_the_pure_evaluation_says(services: Services) -> None:
    people = [customer(services, f"v{n}@example.com", **traits) for n, traits in enumerate(VARIED)]
    while services.evaluate_segments():
        pass
    with services.uow() as uow:
        ids = {
            name: services.segmenter.create(uow, name, "", condition).id
            for name, condition in TRAIT_CONDITIONS.items()
        }
        uow.commit()

    while services.evaluate_segments():
        pass

    with services.uow(write=False) as uow:
        repo = SqlSegmentRepository(uow.conn, services.cipher)
        members = {name: set(repo.members_after(i, "", 100)) for name, i in ids.items()}
        held = repo.traits(people)
    expected = {
        name: {
            p
            for p in people
            if matches(parse_condition(condition), Facts(p, START, held.get(p, {})), START)
        }
        for name, condition in TRAIT_CONDITIONS.items()
    }
    assert members == expected
    assert members["eq"] == {people[0], people[1], people[6]}
    assert members["bool"] == {people[0], people[6]}
