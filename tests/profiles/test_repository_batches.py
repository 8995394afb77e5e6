"""The profile repository's look-ups for many customers at once, on SQLite and PostgreSQL."""

from datetime import UTC, datetime

from omnicx.bootstrap import Services
from omnicx.profiles.store import SqlProfileRepository, profiles

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_canonical_ids_and_members_come_in_one_statement_across_chunks(
    services: Services,
) -> None:
    # 600 standalone profiles; "a0" stands for "a1" and "z2", merged into it.
    rows = [(f"p{n:04d}", f"p{n:04d}") for n in range(600)]
    rows += [("a0", "a0"), ("a1", "a0"), ("z2", "a0")]
    with services.uow() as uow:
        uow.conn.execute(
            profiles.insert(),
            [{"id": i, "canonical_id": c, "created_at": AT, "updated_at": AT} for i, c in rows],
        )
        uow.commit()
    # "a1" sorts into the first chunk of 500 ids, "z2" into the second: their root is reached
    # twice and its members must still be listed once.
    asked = ["a1", "z2", "p0000", "nobody"] + [f"p{n:04d}" for n in range(100, 600)]

    with services.uow() as uow:
        repo = SqlProfileRepository(uow.conn, services.cipher)
        canonical, members = repo.canonical_with_members(asked)
        assert (canonical, members) == (
            repo.canonical_ids(asked),
            repo.members_of(set(canonical.values())),
        )

    assert canonical["a1"] == canonical["z2"] == "a0"
    assert "nobody" not in canonical
    assert len(canonical) == len(asked) - 1
    assert members["a0"] == ["a0", "a1", "z2"]
    assert members["p0599"] == ["p0599"]
    assert len(members) == 502  # a0, p0000 and p0100 to p0599
