"""Every table, for migrations and the drift check: importing the stores registers them.

`python -m omnicx.schema` migrates a scratch SQLite database and compares it with the
tables in code; it exits 1 listing the differences when a migration is missing.
"""

import sys
import tempfile
from pathlib import Path

from omnicx.db.engine import create_engines
from omnicx.db.migrate import drift, upgrade


def load_tables() -> None:
    import omnicx.access.store
    import omnicx.analytics.store.qr
    import omnicx.analytics.store.service_campaigns
    import omnicx.analytics.store.service_desk
    import omnicx.analytics.store.tables
    import omnicx.channels.store
    import omnicx.commerce.store.catalog
    import omnicx.commerce.store.inventory
    import omnicx.commerce.store.loyalty
    import omnicx.commerce.store.orders
    import omnicx.commerce.store.returns
    import omnicx.consent.store
    import omnicx.conversations.store
    import omnicx.desk.store
    import omnicx.events.privacy_store
    import omnicx.events.store
    import omnicx.orchestration.store.journeys
    import omnicx.orchestration.store.segments
    import omnicx.orchestration.store.sends
    import omnicx.orchestration.store.templates
    import omnicx.privacy.store
    import omnicx.profiles.store
    import omnicx.webhooks.store  # noqa: F401


def main() -> int:
    load_tables()
    with tempfile.TemporaryDirectory() as scratch:
        engines = create_engines(f"sqlite:///{Path(scratch) / 'drift.db'}")
        try:
            upgrade(engines)
            differences = drift(engines.main)
        finally:
            engines.dispose()
    if differences:
        print("the migrations do not match the tables in code:", file=sys.stderr)
        for difference in differences:
            print(f"  {difference}", file=sys.stderr)
        return 1
    print("migrations match the tables in code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
