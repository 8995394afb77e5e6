"""The demo's consents load once, through the same services the API uses."""

from omnicx.bootstrap import Services
from omnicx.cli.demo_consent import load_demo_consents
from tests.conftest import table_counts
from tests.consent.conftest import receive


def test_the_demo_records_consents_once(services: Services) -> None:
    for n in range(12):
        receive(
            services,
            (("email", f"cliente{n}@example.com"), ("phone", f"+55119888870{n:02d}")),
            "Oi",
            pid=f"<demo-{n}@example.com>",
        )

    done = load_demo_consents(services, seed=3)

    assert not done.skipped
    assert done.suppressed == 1
    assert done.opted_in + done.opted_out > 0
    counts = table_counts(services, "consent_changes", "consent_suppressions")
    assert counts["consent_suppressions"] == 1
    assert counts["consent_changes"] >= done.opted_in
    assert load_demo_consents(services, seed=3).skipped
    assert table_counts(services, "consent_changes", "consent_suppressions") == counts
