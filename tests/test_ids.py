import uuid

from omnicx.kernel import new_id


def test_ids_increase_within_one_millisecond() -> None:
    ids = [new_id(now_ms=1_800_000_000_000) for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5000


def test_ids_are_version_7_uuids_carrying_their_millisecond() -> None:
    parsed = uuid.UUID(new_id(now_ms=1_800_000_000_123))
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 >= 1_800_000_000_123
