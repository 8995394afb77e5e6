"""The desk's storage on SQLite and PostgreSQL: SLA events once per clock, through merges;
CSAT comments sealed; erasure of a customer's desk rows."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from omnicx.bootstrap import Services
from omnicx.desk import sla
from omnicx.desk.messages import SlaBreached, SlaWarning
from omnicx.desk.model import ALWAYS_OPEN, CsatSurvey, SlaClock
from omnicx.desk.services import Desk, DeskConfig
from omnicx.desk.store import SqlDeskRepository
from omnicx.privacy import EraseSubject, Subject
from tests.conftest import table_counts

AT = datetime(2026, 3, 2, 12, tzinfo=UTC)


def clock(id: str, conversation: str, started: datetime) -> SlaClock:
    return sla.schedule(
        SlaClock(
            id, conversation, "cust-1", "first_response", "pol", None, 60, 80, started, "running"
        ),
        ALWAYS_OPEN,
    )


def test_sla_events_are_raised_once_and_survive_a_merge(services: Services) -> None:
    desk = Desk(DeskConfig(weights={}))
    with services.uow() as uow:
        repo = SqlDeskRepository(uow.conn, services.cipher)
        repo.add_clock(clock("k-early", "conv-a", AT))
        repo.add_clock(clock("k-late", "conv-b", AT + timedelta(minutes=30)))
        # conv-a is merged into conv-b: the survivor keeps the earliest start.
        desk.merged(repo, "conv-b", "conv-a")
        uow.commit()
    with services.uow() as uow:
        repo = SqlDeskRepository(uow.conn, services.cipher)
        live = repo.clocks("conv-b", live=True)
        assert [(c.id, c.started_at) for c in live] == [("k-early", AT)]
        warned = desk.check_sla(repo, AT + timedelta(minutes=50))
        breached = desk.check_sla(repo, AT + timedelta(minutes=61))
        again = desk.check_sla(repo, AT + timedelta(hours=5))
        uow.commit()
    assert warned == [
        SlaWarning("cust-1", "conv-b", "first_response", "pol", AT + timedelta(minutes=48))
    ]
    assert breached == [
        SlaBreached("cust-1", "conv-b", "first_response", "pol", AT + timedelta(minutes=60))
    ]
    assert again == []
    assert table_counts(services, "desk_sla_events") == {"desk_sla_events": 2}


def test_csat_comment_is_sealed_and_erased(services: Services) -> None:
    survey = CsatSurvey("s1", "conv-a", "cust-1", "sms", AT, AT + timedelta(days=3))
    with services.uow() as uow:
        repo = SqlDeskRepository(uow.conn, services.cipher)
        repo.add_survey(survey)
        repo.answer_survey("s1", 4, "quick and kind", "reply", AT)
        repo.add_survey(CsatSurvey("s2", "conv-z", "cust-2", "email", AT, AT))
        uow.commit()
    with services.engines.main.connect() as conn:
        raw = conn.execute(sa.text("SELECT comment FROM desk_csat_surveys WHERE id = 's1'"))
        assert services.cipher.is_sealed(raw.scalar_one())
    with services.uow() as uow:
        repo = SqlDeskRepository(uow.conn, services.cipher)
        answered = repo.survey("s1")
        assert answered is not None
        assert (answered.score, answered.comment, answered.answered_via) == (
            4,
            "quick and kind",
            "reply",
        )
        subject = Subject("cust-1", "cust-1", ("cust-1",), ())
        reports = services.bus.ask(EraseSubject(subject, "r1", AT), uow)
        uow.commit()
    desk_report = next(r for r in reports if r.domain == "desk")
    assert desk_report.counts["desk_csat_surveys"] == 1
    assert table_counts(services, "desk_csat_surveys") == {"desk_csat_surveys": 1}
