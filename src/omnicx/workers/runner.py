"""The worker loop: resolve acknowledged events, then deliver due outbox rows, then sleep
until woken (a commit or an acknowledged batch) or a short timeout passes. Every
`OMNICX_RETENTION_INTERVAL_SECONDS` (an hour by default) a pass applies the retention policies,
every `OMNICX_DESK_SLA_CHECK_SECONDS` (a minute) one raises the SLA warnings and breaches
now due, every `OMNICX_STOCK_EXPIRY_CHECK_SECONDS` one frees the stock of ended leases, and
every `OMNICX_CART_EXPIRY_CHECK_SECONDS` (an hour) one drops carts idle too long."""

import logging
import threading
import time

from omnicx.bootstrap import Services, Signal

log = logging.getLogger("omnicx.worker")


class Worker:
    def __init__(
        self, services: Services, idle_seconds: float = 0.5, stop: Signal | None = None
    ) -> None:
        self.services = services
        self.idle_seconds = idle_seconds
        self._stop: Signal = stop or threading.Event()
        self._thread: threading.Thread | None = None
        self._retention_due = time.monotonic()
        self._sla_due = time.monotonic()
        self._leases_due = time.monotonic()
        self._carts_due = time.monotonic()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="omnicx-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.services.wake()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self.services.wakeup.clear()
            try:
                busy = self.step()
                failures = 0
            except Exception:
                failures += 1
                log.exception("worker step failed (%d in a row)", failures)
                self._stop.wait(min(30.0, 0.5 * 2 ** min(failures, 6)))
                continue
            if not busy:
                self.services.wakeup.wait(self.idle_seconds)

    def step(self) -> bool:
        """One pass; True when there was work (so the next pass starts at once)."""
        resolved = self.services.process_ingest()
        delivered = self.services.process_outbox()
        segmented = self.services.evaluate_segments()
        journeys = self.services.run_journeys()
        sends = self.services.process_sends()
        self.retain()
        self.check_sla()
        self.expire_leases()
        self.expire_carts()
        return bool(resolved or delivered or segmented or journeys or sends)

    def retain(self) -> dict[str, int] | None:
        """Apply the retention policies when they are due; None when they were not."""
        now = time.monotonic()
        if now < self._retention_due:
            return None
        self._retention_due = now + self.services.settings.retention_interval_seconds
        counts = self.services.apply_retention()
        if any(counts.values()):
            log.info("retention deleted %s", {k: v for k, v in counts.items() if v})
        return counts

    def check_sla(self) -> int | None:
        """Raise the SLA warnings and breaches due when the check is due; None when it was
        not, else how many were raised."""
        now = time.monotonic()
        if now < self._sla_due:
            return None
        self._sla_due = now + self.services.settings.desk_sla_check_seconds
        raised = self.services.check_sla()
        if raised:
            log.info("SLA check raised %d warnings and breaches", len(raised))
        return len(raised)

    def expire_leases(self) -> int | None:
        """Free the stock of reservations whose lease ended, every
        `OMNICX_STOCK_EXPIRY_CHECK_SECONDS`; None when not due, else how many."""
        now = time.monotonic()
        if now < self._leases_due:
            return None
        self._leases_due = now + self.services.settings.stock_expiry_check_seconds
        freed = self.services.expire_reservations()
        if freed:
            log.info("%d stock reservations expired", freed)
        return freed

    def expire_carts(self) -> int | None:
        """Drop carts untouched for OMNICX_CART_IDLE_DAYS, every
        `OMNICX_CART_EXPIRY_CHECK_SECONDS`; None when not due, else how many."""
        now = time.monotonic()
        if now < self._carts_due:
            return None
        self._carts_due = now + self.services.settings.cart_expiry_check_seconds
        dropped = self.services.expire_carts()
        if dropped:
            log.info("%d idle carts dropped", dropped)
        return dropped

    def drain(self) -> int:
        """Run until nothing is left; for tests, imports and the demo."""
        total = 0
        while (count := self.services.process_ingest()) > 0:
            total += count
        return total
