import os
import uuid
import warnings

import pytest

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


def test_ids_drawn_past_one_read_of_randomness_stay_distinct() -> None:
    ids = [new_id(now_ms=1_800_000_000_456 + n // 1000) for n in range(3000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3000
    assert all(uuid.UUID(i).version == 7 for i in ids)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    new_id(now_ms=1_800_000_001_000)
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.close(read)
        os.write(write, " ".join(new_id(now_ms=1_800_000_001_001) for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    theirs = b""
    while chunk := os.read(read, 65536):
        theirs += chunk
    os.close(read)
    os.waitpid(child, 0)
    ours = {new_id(now_ms=1_800_000_001_001) for _ in range(50)}
    assert len(theirs.split()) == 50
    assert ours.isdisjoint(theirs.decode().split())
