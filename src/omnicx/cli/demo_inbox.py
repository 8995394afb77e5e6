"""The demo's service desk: a team, its agents, canned responses and an inbox of conversations
from demo customers on every channel, some waiting, some answered, one that moved from email to
WhatsApp, one past its SLA."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from omnicx.bootstrap import Services
from omnicx.conversations import InboundMessage, Reply, ThreadHints
from omnicx.conversations import services as conversations
from omnicx.desk import services as desk
from omnicx.desk.model import BusinessHours
from omnicx.kernel import DomainError

DEMO_TEAM = "Atendimento"
DEMO_CANNED = (
    ("ola", "Saudação",
     "Olá {{customer.first_name}}! Aqui é {{agent.name}}, da Aurora. Como posso ajudar?"),
    ("pedido", "Status do pedido",
     "Verifiquei seu pedido e ele já está a caminho. O código de rastreio vai por e-mail."),
    ("troca", "Política de troca",
     "Você pode trocar em qualquer loja Aurora em até 30 dias, mesmo compras feitas online."),
)  # fmt: skip

CUSTOMERS = """
SELECT p.id, p.email, p.phone FROM profiles p
WHERE p.id = p.canonical_id AND p.email IS NOT NULL AND p.phone IS NOT NULL
ORDER BY p.id LIMIT 12
"""


@dataclass(frozen=True)
class Said:
    """One thing a demo customer said: channel, our account, minutes ago, text, and what the
    desk did with it."""

    channel: str
    account: str
    minutes_ago: int
    text: str
    reason: str | None = None
    assign: str | None = None  # "agent" or "team"
    status: str | None = None
    priority: str | None = None
    note: str | None = None
    kind: str = "message"


SCRIPT: tuple[tuple[Said, ...], ...] = (
    (Said("sms", "+551140040000", 130, "Oi, meu pedido ainda não chegou. Podem verificar?",
          "delivery", "agent", priority="high",
          note="Transportadora confirmou atraso de 1 dia; avisar a cliente."),),
    (Said("whatsapp", "aurora-whatsapp", 25,
          "Vocês têm o vestido floral tamanho M na loja da Paulista?", "product_question"),),
    (Said("email", "atendimento@aurora.example.com.br", 300,
          "Comprei uma camisa pelo site e quero trocar por um tamanho maior. Como faço?",
          "returns_exchanges", "team"),
     Said("whatsapp", "aurora-whatsapp", 60,
          "Mandei um e-mail sobre a troca da camisa, alguém pode me ajudar por aqui?")),
    (Said("telegram", "aurora_bot", 180, "Qual é o saldo dos meus pontos Aurora?", "loyalty",
          "agent", note="Cliente no nível Prata; conferir pontos da compra de ontem."),),
    (Said("chat", "web", 10, "O pagamento por Pix não confirmou, fui cobrada duas vezes?",
          "payment", priority="urgent"),),
    (Said("whatsapp", "aurora-whatsapp", 1800, "Quero cancelar a entrega de amanhã.",
          "delivery"),),
    (Said("call_center", "0800-aurora", 240, "Ligou perguntando sobre garantia da TV 55.",
          "product_question", "agent", kind="call"),),
    (Said("store", "store-paulista", 1500, "Veio à loja trocar um presente sem nota.",
          "store_experience", status="resolved", kind="visit"),),
    (Said("email", "atendimento@aurora.example.com.br", 2900,
          "A nota fiscal do meu pedido veio com o CPF errado.", "payment", "team",
          status="pending"),),
    (Said("sms", "+551140040000", 4300, "Obrigada, recebi tudo certinho!", "order_status",
          status="resolved"),),
    (Said("telegram", "aurora_bot", 45, "Vocês fazem instalação da TV em casa?",
          "product_question", "team"),),
    (Said("chat", "web", 5, "Vocês entregam em Campinas no mesmo dia?", "delivery"),),
)  # fmt: skip


def load_demo_inbox(services: Services, anchor: datetime) -> int:
    """Fill the inbox once: the number of conversations made (0 when already there)."""
    with services.uow(write=False) as uow:
        if uow.conn.execute(sa.text("SELECT 1 FROM conversations LIMIT 1")).first():
            return 0
        rows = uow.conn.execute(sa.text(CUSTOMERS)).all()
        agents = {
            u.role: u.id
            for u in services.users(uow).all()
            if u.role in ("agent", "admin") and u.email.endswith("aurora.example.com.br")
        }
    if len(rows) < len(SCRIPT) or "agent" not in agents:
        return 0
    team = _team(services, list(agents.values()))
    reveal = services.cipher.reveal
    made = 0
    for row, lines in zip(rows, SCRIPT, strict=False):
        email, phone = str(reveal(row.email)), str(reveal(row.phone))
        conversation_id: str | None = None
        for said in lines:
            receipt = services.receive_inbound(
                InboundMessage(
                    channel=said.channel,
                    account=said.account,
                    sender=_sender(said.channel, email, phone),
                    received_at=anchor - timedelta(minutes=said.minutes_ago),
                    provider_message_id=f"demo-{row.id}-{said.minutes_ago}",
                    text=said.text,
                    kind=said.kind,  # type: ignore[arg-type]
                    metadata={"demo": True},
                    thread=ThreadHints(conversation_id=conversation_id),
                )
            )
            conversation_id = receipt.conversation_id
        assert conversation_id is not None
        _arrange(services, conversation_id, lines[0], agents["agent"], team)
        made += 1
    return made


def _sender(channel: str, email: str, phone: str) -> tuple[tuple[str, str], ...]:
    if channel in ("email", "chat"):
        return (("email", email),)
    if channel == "whatsapp":
        return (("phone", phone), ("whatsapp_id", phone.lstrip("+")))
    if channel == "telegram":
        return (("phone", phone),)
    return (("phone", phone),)


def _team(services: Services, members: list[str]) -> str:
    with services.uow() as uow:
        repo, port, now = services.desk(uow), services.desk_port(uow), uow.clock.now()
        found = repo.team_by_name(DEMO_TEAM)
        if found is None:
            found = desk.create_team(
                repo, DEMO_TEAM, "Atendimento ao cliente", "round_robin", BusinessHours(), now
            )
            for user_id in members:
                desk.add_member(repo, port, found.id, user_id, now)
        for shortcut, title, body in DEMO_CANNED:
            if repo.canned_by_shortcut(shortcut) is None:
                desk.create_canned(repo, shortcut, title, body, "pt-BR", now)
        uow.commit()
        return found.id


def _arrange(services: Services, conversation_id: str, said: Said, agent: str, team: str) -> None:
    """What the desk did: reason, priority, assignment, a note, a status."""
    with services.uow() as uow:
        store, now = services.conversations(uow), uow.clock.now()
        try:
            if said.reason or said.priority:
                conversations.change_details(
                    store,
                    conversation_id,
                    priority=said.priority,
                    contact_reason=said.reason,
                    clear_reason=False,
                    labels=None,
                    reasons=services.settings.contact_reasons,
                    now=now,
                    raise_event=uow.raise_event,
                )
            if said.assign is not None:
                services.desk_core.assign_manually(
                    services.desk(uow),
                    services.desk_port(uow),
                    conversation_id,
                    agent if said.assign == "agent" else None,
                    team,
                    "system:demo",
                    now,
                )
            uow.commit()
        except DomainError:
            return
    if said.note is not None:
        with services.uow(write=False) as uow:
            author = services.users(uow).get(agent)
        assert author is not None
        services.reply(conversation_id, Reply(author.principal(), text=said.note, note=True))
    if said.status is not None:
        with services.uow() as uow:
            conversations.change_status(
                services.conversations(uow),
                conversation_id,
                said.status,
                snoozed_until=None,
                now=uow.clock.now(),
                raise_event=uow.raise_event,
            )
            uow.commit()
