"""What the customer sees: the preference centre, the unsubscribe and confirmation pages and
the double opt-in email, rendered from `templates/` with Jinja2 (HTML autoescaped), in the
customer's language when we speak it (English, Portuguese, Spanish)."""

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from omnicx.consent.model import Preferences

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "lang": "en",
        "preferences_title": "Your contact preferences",
        "preferences_intro": "Choose what we may send you, and where.",
        "purpose_service": "Service messages (answers to your questions)",
        "purpose_marketing": "Offers and news",
        "purpose_feedback": "Surveys about your experience",
        "channel_email": "Email",
        "channel_sms": "SMS",
        "channel_whatsapp": "WhatsApp",
        "channel_telegram": "Telegram",
        "channel_push": "Push",
        "channel_web_chat": "Web chat",
        "channel_call": "Phone calls",
        "channel_post": "Post",
        "pending": "check your inbox to confirm",
        "suppressed": "blocked",
        "settings": "How and when",
        "language": "Language",
        "time_zone": "Time zone",
        "quiet_hours": "Quiet hours (no messages between)",
        "and": "and",
        "max_per_day": "At most this many messages a day",
        "max_per_week": "At most this many messages a week",
        "channel_order": "Preferred channels, first choice first (e.g. whatsapp, email)",
        "save": "Save my choices",
        "unsubscribe_all": "Stop all offers and surveys",
        "saved": "Your choices are saved.",
        "confirm_sent": "We sent you an email: follow its link to confirm offers by email.",
        "error": "Nothing was saved",
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_ask": "Stop receiving {purpose} messages from us on every channel?",
        "unsubscribe_button": "Unsubscribe",
        "unsubscribed": "You are unsubscribed: we will not send you {purpose} messages on any "
        "channel.",
        "manage": "Manage all your preferences",
        "confirm_title": "Subscription confirmed",
        "confirmed": "Thank you: your subscription to {purpose} messages by email is confirmed.",
        "already_confirmed": "Your subscription was confirmed already.",
        "gone_title": "Link no longer valid",
        "mail_subject": "Please confirm your subscription",
        "mail_body": "You asked to receive {purpose} messages from us by email. Confirm it by "
        "following this link:",
        "mail_ignore": "If it was not you, ignore this email: nothing will be sent.",
        "mail_button": "Confirm my subscription",
    },
    "pt": {
        "lang": "pt-BR",
        "preferences_title": "Suas preferências de contato",
        "preferences_intro": "Escolha o que podemos enviar e por onde.",
        "purpose_service": "Mensagens de atendimento (respostas às suas dúvidas)",
        "purpose_marketing": "Ofertas e novidades",
        "purpose_feedback": "Pesquisas sobre sua experiência",
        "channel_email": "E-mail",
        "channel_sms": "SMS",
        "channel_whatsapp": "WhatsApp",
        "channel_telegram": "Telegram",
        "channel_push": "Push",
        "channel_web_chat": "Chat do site",
        "channel_call": "Ligações",
        "channel_post": "Correio",
        "pending": "confirme no seu e-mail",
        "suppressed": "bloqueado",
        "settings": "Como e quando",
        "language": "Idioma",
        "time_zone": "Fuso horário",
        "quiet_hours": "Horário de silêncio (nenhuma mensagem entre)",
        "and": "e",
        "max_per_day": "No máximo esta quantidade de mensagens por dia",
        "max_per_week": "No máximo esta quantidade de mensagens por semana",
        "channel_order": "Canais preferidos, o primeiro antes (ex.: whatsapp, email)",
        "save": "Salvar minhas escolhas",
        "unsubscribe_all": "Parar todas as ofertas e pesquisas",
        "saved": "Suas escolhas foram salvas.",
        "confirm_sent": "Enviamos um e-mail: siga o link para confirmar ofertas por e-mail.",
        "error": "Nada foi salvo",
        "unsubscribe_title": "Descadastrar",
        "unsubscribe_ask": "Parar de receber mensagens de {purpose} em todos os canais?",
        "unsubscribe_button": "Descadastrar",
        "unsubscribed": "Pronto: não enviaremos mais mensagens de {purpose} em nenhum canal.",
        "manage": "Gerenciar todas as preferências",
        "confirm_title": "Inscrição confirmada",
        "confirmed": "Obrigado: sua inscrição em mensagens de {purpose} por e-mail está "
        "confirmada.",
        "already_confirmed": "Sua inscrição já estava confirmada.",
        "gone_title": "Link não é mais válido",
        "mail_subject": "Confirme sua inscrição",
        "mail_body": "Você pediu para receber mensagens de {purpose} por e-mail. Confirme "
        "seguindo este link:",
        "mail_ignore": "Se não foi você, ignore este e-mail: nada será enviado.",
        "mail_button": "Confirmar minha inscrição",
    },
    "es": {
        "lang": "es",
        "preferences_title": "Tus preferencias de contacto",
        "preferences_intro": "Elige qué podemos enviarte y por dónde.",
        "purpose_service": "Mensajes de atención (respuestas a tus preguntas)",
        "purpose_marketing": "Ofertas y novedades",
        "purpose_feedback": "Encuestas sobre tu experiencia",
        "channel_email": "Correo electrónico",
        "channel_sms": "SMS",
        "channel_whatsapp": "WhatsApp",
        "channel_telegram": "Telegram",
        "channel_push": "Push",
        "channel_web_chat": "Chat web",
        "channel_call": "Llamadas",
        "channel_post": "Correo postal",
        "pending": "confirma en tu correo",
        "suppressed": "bloqueado",
        "settings": "Cómo y cuándo",
        "language": "Idioma",
        "time_zone": "Zona horaria",
        "quiet_hours": "Horas de silencio (ningún mensaje entre)",
        "and": "y",
        "max_per_day": "Como máximo esta cantidad de mensajes al día",
        "max_per_week": "Como máximo esta cantidad de mensajes a la semana",
        "channel_order": "Canales preferidos, el primero antes (p. ej. whatsapp, email)",
        "save": "Guardar mis elecciones",
        "unsubscribe_all": "Dejar todas las ofertas y encuestas",
        "saved": "Tus elecciones están guardadas.",
        "confirm_sent": "Te enviamos un correo: sigue su enlace para confirmar ofertas por correo.",
        "error": "No se guardó nada",
        "unsubscribe_title": "Darse de baja",
        "unsubscribe_ask": "¿Dejar de recibir mensajes de {purpose} en todos los canales?",
        "unsubscribe_button": "Darme de baja",
        "unsubscribed": "Listo: no te enviaremos más mensajes de {purpose} en ningún canal.",
        "manage": "Gestionar todas tus preferencias",
        "confirm_title": "Suscripción confirmada",
        "confirmed": "Gracias: tu suscripción a mensajes de {purpose} por correo está confirmada.",
        "already_confirmed": "Tu suscripción ya estaba confirmada.",
        "gone_title": "El enlace ya no es válido",
        "mail_subject": "Confirma tu suscripción",
        "mail_body": "Pediste recibir mensajes de {purpose} por correo. Confírmalo siguiendo "
        "este enlace:",
        "mail_ignore": "Si no fuiste tú, ignora este correo: no se enviará nada.",
        "mail_button": "Confirmar mi suscripción",
    },
}

PURPOSE_WORDS: dict[str, dict[str, str]] = {
    "en": {"marketing": "offers and news", "feedback": "survey", "service": "service"},
    "pt": {"marketing": "ofertas e novidades", "feedback": "pesquisa", "service": "atendimento"},
    "es": {"marketing": "ofertas y novedades", "feedback": "encuesta", "service": "atención"},
}

PAGE_CHANNELS: tuple[str, ...] = ("email", "sms", "whatsapp", "telegram", "push", "call", "post")
"""The channels the preference centre offers (web chat is answered where the customer is)."""


def strings(language: str | None) -> dict[str, str]:
    base = (language or "en").split("-")[0].lower()
    return STRINGS.get(base, STRINGS["en"])


def purpose_word(language: str | None, purpose: str) -> str:
    base = (language or "en").split("-")[0].lower()
    return PURPOSE_WORDS.get(base, PURPOSE_WORDS["en"]).get(purpose, purpose.replace("_", " "))


def label(texts: dict[str, str], key: str, fallback: str) -> str:
    return texts.get(key, fallback.replace("_", " ").capitalize())


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("omnicx.consent", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True, default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render(name: str, **context: Any) -> str:
    return _environment().get_template(name).render(**context)


@dataclass(frozen=True)
class Cell:
    purpose: str
    channel: str
    allowed: bool
    pending: bool = False
    blocked: bool = False


@dataclass(frozen=True)
class PreferencePage:
    """The preference centre as the customer sees it."""

    token: str
    csrf: str
    language: str | None
    purposes: tuple[str, ...]
    cells: dict[tuple[str, str], Cell]
    preferences: Preferences
    time_zones: tuple[str, ...]
    notice: str | None = None
    error: str | None = None
    confirm_sent: bool = False
    form: dict[str, str] = field(default_factory=dict)

    def html(self) -> str:
        texts = strings(self.language)
        prefs = self.preferences
        window = prefs.quiet_hours
        values = {
            "language": prefs.language or "",
            "time_zone": prefs.time_zone or "",
            "quiet_start": f"{window[0]:%H:%M}" if window else "",
            "quiet_end": f"{window[1]:%H:%M}" if window else "",
            "max_per_day": "" if prefs.max_per_day is None else str(prefs.max_per_day),
            "max_per_week": "" if prefs.max_per_week is None else str(prefs.max_per_week),
            "channel_order": ", ".join(prefs.channel_order),
            **self.form,
        }
        return render(
            "preferences.html",
            t=texts,
            token=self.token,
            csrf=self.csrf,
            purposes=[(p, label(texts, f"purpose_{p}", p)) for p in self.purposes],
            channels=[(c, label(texts, f"channel_{c}", c)) for c in PAGE_CHANNELS],
            cells=self.cells,
            values=values,
            time_zones=self.time_zones,
            notice=self.notice,
            error=self.error,
            confirm_sent=self.confirm_sent,
        )


def message_page(title: str, message: str, language: str | None, link: str | None = None) -> str:
    texts = strings(language)
    return render("message.html", t=texts, title=title, message=message, link=link)


def unsubscribe_page(token: str, purpose: str, language: str | None, manage: str | None) -> str:
    texts = strings(language)
    return render(
        "unsubscribe.html",
        t=texts,
        token=token,
        question=texts["unsubscribe_ask"].format(purpose=purpose_word(language, purpose)),
        manage=manage,
    )


def confirmation_mail(url: str, purpose: str, language: str | None) -> tuple[str, str, str]:
    """(subject, text, html) of the double opt-in email."""
    texts = strings(language)
    body = texts["mail_body"].format(purpose=purpose_word(language, purpose))
    context = {"t": texts, "url": url, "body": body}
    return (
        texts["mail_subject"],
        render("confirm_email.txt", **context),
        render("confirm_email.html", **context),
    )
