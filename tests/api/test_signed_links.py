"""Signed links with a forged signature in any characters are refused with the link's own
error, never a 500 (a signature is compared as bytes, so non-ASCII cannot break the check)."""

from fastapi.testclient import TestClient

FORGED = "0.%C2%80%E2%82%AC"
"""A body and a "signature" of non-ASCII characters."""


def test_forged_non_ascii_signatures_are_refused(client: TestClient) -> None:
    csat = client.get(f"/csat/{FORGED}")
    assert csat.status_code == 400
    assert csat.json()["error"]["code"] == "invalid_csat_token"
    for method, path in (
        ("GET", f"/preferences/{FORGED}"),
        ("GET", f"/u/{FORGED}"),
        ("POST", f"/u/{FORGED}"),
    ):
        answer = client.request(method, path, data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["error"] == {
            "code": "invalid_link",
            "message": "the link's signature does not match",
            "field": "token",
        }
