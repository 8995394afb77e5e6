"""`omnicx demo`: a year of a São Paulo fashion and home retailer, fed through real ingestion.

`generate` is pure: a seed, an anchor date and a head count give the same Segment calls every
time. `load` sends them the way the tracking API does (parse, acknowledge, resolve), so the
profiles, merges and conflicts it leaves are the ones the product would build from live data.
"""

import random
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from omnicx.access import STAFF_ROLES, create_api_key, create_user, reset_password
from omnicx.bootstrap import Services
from omnicx.cli.commerce import load_demo_catalog
from omnicx.cli.demo_aftersales import load_demo_aftersales
from omnicx.cli.demo_consent import show_demo_consents
from omnicx.cli.demo_gate import show_demo_decisions
from omnicx.cli.demo_inbox import DEMO_TEAM, load_demo_inbox
from omnicx.cli.inventory import load_demo_stock
from omnicx.db.migrate import upgrade
from omnicx.events import Source, acknowledge, create_source, parse_call
from omnicx.kernel.moments import iso, micros
from omnicx.profiles import normalize_phone
from omnicx.workers import Worker

WEB = "Web shop"
APP = "Mobile app"
PAULISTA = "Store Paulista"
PINHEIROS = "Store Pinheiros"
CAMPINAS = "Store Campinas"
CALLS = "Call centre"
SOURCES = (
    (WEB, "web"),
    (APP, "app"),
    (PAULISTA, "store"),
    (PINHEIROS, "store"),
    (CAMPINAS, "store"),
    (CALLS, "call_center"),
)
STORES = {
    PAULISTA: ("SP-PAULISTA", "PAU"),
    PINHEIROS: ("SP-PINHEIROS", "PIN"),
    CAMPINAS: ("CPS-DOMPEDRO", "CPS"),
}
KINDS = ((0.10, "anonymous"), (0.36, "online"), (0.58, "store"), (1.0, "omni"))
"""Who the customers are, by cumulative share."""
BATCH_SIZE = 100
SITE = "https://www.aurora.example.com.br"
T = TypeVar("T")
LOCAL = timedelta(hours=-3)
"""São Paulo's offset: shops open and people browse by local time."""

FIRST_NAMES = (
    "Ana", "Beatriz", "Camila", "Daniela", "Eduarda", "Fernanda", "Gabriela", "Helena",
    "Isabela", "Juliana", "Larissa", "Leticia", "Luana", "Mariana", "Natalia", "Patricia",
    "Rafaela", "Sofia", "Tatiane", "Vanessa", "Aline", "Bruna", "Carolina", "Débora",
    "Júlia", "Lívia", "Márcia", "Renata", "Simone", "Valéria", "André", "Bruno", "Carlos",
    "Diego", "Eduardo", "Felipe", "Gustavo", "Henrique", "Igor", "João", "Lucas", "Marcelo",
    "Mateus", "Paulo", "Rafael", "Rodrigo", "Thiago", "Vinícius", "Caio", "Fábio", "Leonardo",
    "Otávio", "Pedro", "Ricardo", "Sérgio",
)  # fmt: skip
LAST_NAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira",
    "Lima", "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares",
    "Fernandes", "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade", "Moreira",
    "Nunes", "Marques", "Machado", "Mendes", "Freitas", "Cardoso", "Ramos", "Gonçalves",
    "Santana", "Teixeira", "Araújo", "Moura", "Cavalcanti", "Monteiro", "Pinto", "Correia",
    "Batista", "Castro", "Azevedo", "Campos", "Prado", "Toledo", "Queiroz",
)  # fmt: skip
CITIES = (
    ("São Paulo", "11", 58),
    ("Campinas", "19", 12),
    ("Santo André", "11", 5),
    ("Osasco", "11", 5),
    ("Guarulhos", "11", 5),
    ("São Bernardo do Campo", "11", 4),
    ("Jundiaí", "11", 3),
    ("Santos", "13", 3),
    ("Sorocaba", "15", 3),
    ("Valinhos", "19", 2),
)
EMAIL_DOMAINS = (
    ("example.com", 45),
    ("example.com.br", 30),
    ("example.net", 15),
    ("example.org", 10),
)
PRODUCTS = (
    ("AUR-CAM-0101", "Camiseta Básica Algodão Pima", "Feminino > Camisetas", 79.90),
    ("AUR-CAM-0102", "Camiseta Listrada Manga Longa", "Feminino > Camisetas", 99.90),
    ("AUR-VES-0201", "Vestido Midi Floral Viscose", "Feminino > Vestidos", 249.90),
    ("AUR-VES-0202", "Vestido Chemise Linho", "Feminino > Vestidos", 319.90),
    ("AUR-CAL-0301", "Calça Jeans Slim Lavagem Escura", "Masculino > Calças", 229.90),
    ("AUR-CAL-0302", "Calça Alfaiataria Pantalona", "Feminino > Calças", 269.90),
    ("AUR-CAM-0401", "Camisa Social Oxford", "Masculino > Camisas", 189.90),
    ("AUR-BER-0402", "Bermuda Sarja Chino", "Masculino > Bermudas", 149.90),
    ("AUR-JAQ-0501", "Jaqueta Jeans Oversized", "Feminino > Casacos", 349.90),
    ("AUR-TRI-0502", "Cardigã Tricô Tramas", "Feminino > Casacos", 199.90),
    ("AUR-TEN-0601", "Tênis Casual Couro Branco", "Calçados > Tênis", 399.90),
    ("AUR-SAN-0602", "Sandália Rasteira Tressê", "Calçados > Sandálias", 129.90),
    ("AUR-BOL-0701", "Bolsa Transversal Couro", "Acessórios > Bolsas", 289.90),
    ("AUR-OCU-0702", "Óculos de Sol Acetato", "Acessórios > Óculos", 219.90),
    ("AUR-CIN-0703", "Cinto Couro Fivela Dourada", "Acessórios > Cintos", 89.90),
    ("AUR-CAM-1001", "Jogo de Cama Queen 300 Fios", "Casa > Cama", 389.90),
    ("AUR-EDR-1002", "Edredom Casal Dupla Face", "Casa > Cama", 299.90),
    ("AUR-TRA-1003", "Travesseiro Plumas Sintéticas", "Casa > Cama", 119.90),
    ("AUR-TOA-1101", "Toalha de Banho Felpuda", "Casa > Banho", 69.90),
    ("AUR-TAP-1102", "Tapete de Banho Algodão", "Casa > Banho", 49.90),
    ("AUR-ALM-1201", "Capa de Almofada Linho", "Casa > Decoração", 59.90),
    ("AUR-VAS-1202", "Vaso Cerâmica Artesanal", "Casa > Decoração", 139.90),
    ("AUR-LUM-1203", "Luminária de Mesa Palha", "Casa > Decoração", 259.90),
    ("AUR-MAN-1204", "Manta Sofá Tricô", "Casa > Decoração", 179.90),
    ("AUR-TAC-1301", "Conjunto 6 Taças Cristal", "Casa > Mesa", 159.90),
    ("AUR-PRA-1302", "Aparelho de Jantar 20 Peças", "Casa > Mesa", 449.90),
    ("AUR-JOG-1303", "Jogo Americano Rattan 4 Peças", "Casa > Mesa", 99.90),
    ("AUR-VEL-1304", "Vela Aromática Capim-Limão", "Casa > Decoração", 54.90),
)
CALL_REASONS = (
    ("Order status", 30),
    ("Delivery delay", 20),
    ("Exchange", 18),
    ("Return request", 12),
    ("Payment issue", 8),
    ("Loyalty programme", 7),
    ("Store information", 5),
)
AGENTS = ("Cláudia R.", "Márcio T.", "Jéssica L.", "Roberto F.", "Priscila M.", "Anderson K.")
PAYMENTS = (("credit_card", 55), ("pix", 25), ("debit_card", 15), ("gift_card", 5))
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 Chrome/126.0 Mobile",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari",
)
DEVICES = (
    ("Samsung", "SM-A546E", "android", "Android", "14"),
    ("Motorola", "moto g84", "android", "Android", "14"),
    ("Xiaomi", "Redmi Note 13", "android", "Android", "13"),
    ("Apple", "iPhone14,5", "ios", "iOS", "17.5"),
    ("Apple", "iPhone15,2", "ios", "iOS", "17.4"),
)


@dataclass(frozen=True)
class Call:
    """One Segment call as a source would send it."""

    source: str
    at: datetime
    payload: dict[str, Any]


@dataclass
class Person:
    number: int
    kind: str
    """anonymous (never signs in), online, store (the till only) or omni (online and stores)."""
    first: str
    last: str
    city: str
    ddd: str
    subscriber: str
    """The nine national digits after the area code."""
    email: str
    birthday: date
    store: str
    user_id: str | None = None
    loyalty_id: str | None = None
    shares_phone_with: int | None = None
    store_email: str | None = None
    """The email as a clerk typed it at the till, when one was asked for."""
    invalid_email: bool = False

    @property
    def phone(self) -> str:
        return f"+55{self.ddd}{self.subscriber}"


@dataclass
class Demo:
    calls: list[Call]
    people: list[Person]


def generate(seed: int, anchor: datetime, customers: int = 5000) -> Demo:
    """The retailer's last twelve months before `anchor`; the same arguments, the same calls."""
    return _Generator(seed, anchor).run(customers)


class _Generator:
    def __init__(self, seed: int, anchor: datetime) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.anchor = anchor.astimezone(UTC)
        self.calls: list[Call] = []
        self.people: list[Person] = []
        self.phones: set[str] = set()
        self.emails: set[str] = set()
        self.serial = 0
        self.orders: dict[str, int] = {}

    # -- people --------------------------------------------------------------------------

    def run(self, customers: int) -> Demo:
        for number in range(1, customers + 1):
            person = self._person(number)
            self.people.append(person)
            self._history(person)
        self.calls.sort(key=lambda c: (c.at, c.payload["messageId"]))
        return Demo(self.calls, self.people)

    def _person(self, number: int) -> Person:
        rng = self.rng
        roll = rng.random()
        kind = next(kind for share, kind in KINDS if roll < share)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, ddd = self._weighted([((c, d), w) for c, d, w in CITIES])
        shared: Person | None = None
        if kind in ("online", "omni") and rng.random() < 0.02:
            partners = [p for p in self.people if p.kind in ("online", "omni")]
            if partners:
                shared = rng.choice(partners)
        if shared is not None:
            last, city, ddd, subscriber = shared.last, shared.city, shared.ddd, shared.subscriber
        else:
            subscriber = self._subscriber(ddd)
        person = Person(
            number=number,
            kind=kind,
            first=first,
            last=last,
            city=city,
            ddd=ddd,
            subscriber=subscriber,
            email=self._email(first, last),
            birthday=date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55)),
            store=CAMPINAS if ddd == "19" else rng.choice((PAULISTA, PAULISTA, PINHEIROS)),
            shares_phone_with=shared.number if shared else None,
        )
        if kind != "anonymous":
            person.user_id = f"C{100000 + number}" if kind != "store" else None
            if kind in ("store", "omni") and rng.random() < 0.35:
                person.loyalty_id = f"AUR{7000000 + number}"
        return person

    def _subscriber(self, ddd: str) -> str:
        while True:
            subscriber = f"9{self.rng.randint(6, 9)}{self.rng.randrange(10_000_000):07d}"
            phone = f"+55{ddd}{subscriber}"
            if phone not in self.phones and normalize_phone(phone, "BR") == phone:
                self.phones.add(phone)
                return subscriber

    def _email(self, first: str, last: str) -> str:
        a, b = _ascii(first), _ascii(last)
        domain = self._weighted(EMAIL_DOMAINS)
        shapes = (f"{a}.{b}", f"{a}{b}", f"{a[0]}{b}", f"{a}_{b}", f"{a}.{b[0]}")
        local = self.rng.choice(shapes)
        while f"{local}@{domain}" in self.emails:
            local = f"{self.rng.choice(shapes)}{self.rng.randint(1, 99)}"
        self.emails.add(f"{local}@{domain}")
        return f"{local}@{domain}"

    # -- histories -----------------------------------------------------------------------

    def _history(self, person: Person) -> None:
        rng = self.rng
        start = self.anchor - timedelta(days=rng.uniform(14, 365))
        if person.kind == "anonymous":
            anon = self._uuid()
            for moment in self._moments(start, rng.randint(1, 3)):
                self._web_session(person, moment, anon, None, None)
            return
        if person.kind in ("online", "omni"):
            self._online(person, start)
        if person.kind in ("store", "omni"):
            visits = rng.randint(1, 4) if person.kind == "omni" else rng.randint(1, 5)
            if rng.random() < (0.5 if person.kind == "store" else 0.45):
                person.store_email = self._typed_email(person)
            for index, moment in enumerate(self._moments(start, visits)):
                self._store_purchase(person, self._opening_hours(moment), first=index == 0)
        if rng.random() < 0.2:
            for moment in self._moments(start, rng.randint(1, 2)):
                self._call(person, moment)

    def _online(self, person: Person, start: datetime) -> None:
        rng = self.rng
        web = self._uuid()
        app = self._uuid() if rng.random() < 0.45 else None
        moments = self._moments(start, rng.randint(2, 7))
        signup_at = rng.randrange(0, min(3, len(moments)))
        app_known = False
        for index, moment in enumerate(moments):
            on_app = app is not None and index > signup_at and rng.random() < 0.6
            if app is not None and index == signup_at - 1:
                on_app = True  # a look around the app before signing in there
            device = app if on_app and app is not None else web
            if index < signup_at:
                self._session(person, moment, on_app, device, None, None)
            elif index == signup_at:
                self._session(person, moment, False, web, person.user_id, self._signup(person))
            elif on_app and not app_known:
                app_known = True
                login = {"email": person.email, "appVersion": "4.12.0"}
                self._session(person, moment, True, device, person.user_id, login)
            else:
                traits = self._moved(person) if rng.random() < 0.05 else None
                self._session(person, moment, on_app, device, person.user_id, traits)

    def _signup(self, person: Person) -> dict[str, Any]:
        phone = person.phone
        spaced = f"+55 {person.ddd} {person.subscriber[:5]}-{person.subscriber[5:]}"
        traits: dict[str, Any] = {
            "email": person.email,
            "phone": spaced if self.rng.random() < 0.5 else phone,
            "firstName": person.first,
            "lastName": person.last,
            "city": person.city,
            "state": "SP",
            "birthday": person.birthday.isoformat(),
            "marketingOptIn": self.rng.random() < 0.6,
        }
        if person.loyalty_id and self.rng.random() < 0.5:
            traits["loyaltyId"] = person.loyalty_id
        return traits

    def _moved(self, person: Person) -> dict[str, Any]:
        city, _ddd = self._weighted([((c, d), w) for c, d, w in CITIES if d == person.ddd])
        person.city = city
        return {"city": city}

    def _typed_email(self, person: Person) -> str:
        rng = self.rng
        local, _, domain = person.email.partition("@")
        if rng.random() < 0.04:
            person.invalid_email = True
            return rng.choice(
                (f"{local}@{domain.split('.')[0]}", f"{local} @{domain}", f"{local}.{domain}")
            )
        shaped = ".".join(part.capitalize() for part in local.split("."))
        typed = f"{shaped}@{domain.capitalize()}" if rng.random() < 0.5 else person.email.upper()
        return f" {typed} " if rng.random() < 0.3 else typed

    # -- channels ------------------------------------------------------------------------

    def _session(
        self,
        person: Person,
        at: datetime,
        on_app: bool,
        anonymous_id: str,
        user_id: str | None,
        traits: dict[str, Any] | None,
    ) -> None:
        if on_app:
            self._app_session(person, at, anonymous_id, user_id, traits)
        else:
            self._web_session(person, at, anonymous_id, user_id, traits)

    def _web_session(
        self,
        person: Person,
        at: datetime,
        anonymous_id: str,
        user_id: str | None,
        traits: dict[str, Any] | None,
    ) -> None:
        rng = self.rng
        who = {"anonymousId": anonymous_id, **({"userId": user_id} if user_id else {})}
        agent = USER_AGENTS[person.number % len(USER_AGENTS)]
        landing = rng.choice(PRODUCTS)
        category = landing[2].split(" > ")[0]
        path = f"/c/{_slug(category)}"
        page = {"path": path, "url": SITE + path, "title": f"{category} | Aurora Moda & Casa"}
        context = {"page": page, "userAgent": agent, "locale": "pt-BR"}
        self._emit(
            WEB,
            at,
            {"type": "page", **who, "name": category, "properties": page, "context": context},
        )
        self._viewing(WEB, at, who, context, traits)

    def _app_session(
        self,
        person: Person,
        at: datetime,
        anonymous_id: str,
        user_id: str | None,
        traits: dict[str, Any] | None,
    ) -> None:
        maker, model, kind, os_name, os_version = DEVICES[person.number % len(DEVICES)]
        who = {"anonymousId": anonymous_id, **({"userId": user_id} if user_id else {})}
        context = {
            "app": {"name": "Aurora", "version": "4.12.0", "build": "4120"},
            "device": {"id": anonymous_id, "manufacturer": maker, "model": model, "type": kind},
            "os": {"name": os_name, "version": os_version},
            "locale": "pt-BR",
            "timezone": "America/Sao_Paulo",
        }
        self._emit(APP, at, {"type": "screen", **who, "name": "Home", "context": context})
        self._viewing(APP, at, who, context, traits)

    def _viewing(
        self,
        source: str,
        at: datetime,
        who: dict[str, str],
        context: dict[str, Any],
        traits: dict[str, Any] | None,
    ) -> datetime:
        """Products viewed, maybe one added and bought; a sign-in happens before checkout."""
        rng = self.rng
        viewed = rng.sample(PRODUCTS, rng.randint(1, 3))
        for product in viewed:
            at += timedelta(seconds=rng.randint(20, 150))
            self._emit(
                source,
                at,
                {
                    "type": "track",
                    **who,
                    "event": "Product Viewed",
                    "properties": _product(product),
                    "context": context,
                },
            )
        if traits is not None:
            at += timedelta(seconds=rng.randint(10, 60))
            self._emit(
                source, at, {"type": "identify", **who, "traits": traits, "context": context}
            )
        if rng.random() > 0.35:
            return at
        product = viewed[-1]
        quantity = 1 if rng.random() < 0.85 else 2
        at += timedelta(seconds=rng.randint(10, 90))
        self._emit(
            source,
            at,
            {
                "type": "track",
                **who,
                "event": "Product Added",
                "properties": {**_product(product), "quantity": quantity},
                "context": context,
            },
        )
        if "userId" not in who or rng.random() > 0.6:
            return at
        order_id = self._order_id("W" if source == WEB else "A")
        lines = [{**_product(product), "quantity": quantity}]
        value = round(product[3] * quantity, 2)
        at += timedelta(seconds=rng.randint(30, 240))
        self._emit(
            source,
            at,
            {
                "type": "track",
                **who,
                "event": "Checkout Started",
                "properties": {
                    "order_id": order_id,
                    "value": value,
                    "currency": "BRL",
                    "products": lines,
                },
                "context": context,
            },
        )
        if rng.random() > 0.75:
            return at
        shipping = 0.0 if value >= 299 else 19.90
        at += timedelta(seconds=rng.randint(60, 300))
        self._emit(
            source,
            at,
            {
                "type": "track",
                **who,
                "event": "Order Completed",
                "properties": {
                    "order_id": order_id,
                    "total": round(value + shipping, 2),
                    "revenue": value,
                    "shipping": shipping,
                    "currency": "BRL",
                    "payment_method": self._weighted(PAYMENTS),
                    "installments": rng.choice((1, 1, 2, 3, 6)),
                    "products": lines,
                },
                "context": context,
            },
        )
        return at

    def _store_purchase(self, person: Person, at: datetime, *, first: bool) -> None:
        rng = self.rng
        store = person.store if rng.random() < 0.85 else rng.choice(tuple(STORES))
        store_id, prefix = STORES[store]
        till = rng.randint(1, 6)
        order_id = self._order_id(prefix)
        lines = [
            {**_product(p), "quantity": 1 if rng.random() < 0.8 else 2}
            for p in rng.sample(PRODUCTS, rng.randint(1, 4))
        ]
        revenue = round(sum(line["price"] * line["quantity"] for line in lines), 2)
        traits: dict[str, Any] = {}
        if person.kind == "store" or person.store_email is None or rng.random() < 0.75:
            traits["phone"] = self._clerk_phone(person)
        if person.store_email is not None:
            traits["email"] = person.store_email
        if person.loyalty_id:
            traits["loyaltyId"] = person.loyalty_id
        if first and person.kind == "store":
            traits.update(firstName=person.first, lastName=person.last)
        self._emit(
            store,
            at,
            {
                "type": "track",
                "anonymousId": f"pos:{store_id.lower()}:{till:02d}:{order_id}",
                "event": "Order Completed",
                "properties": {
                    "order_id": order_id,
                    "store_id": store_id,
                    "till": till,
                    "revenue": revenue,
                    "total": revenue,
                    "currency": "BRL",
                    "payment_method": self._weighted(PAYMENTS),
                    "installments": rng.choice((1, 1, 1, 2, 3, 5, 10)),
                    "products": lines,
                },
                "context": {"traits": traits, "library": {"name": "aurora-pos", "version": "2.3"}},
            },
        )

    def _clerk_phone(self, person: Person) -> str:
        ddd, s = person.ddd, person.subscriber
        return self._weighted(
            (
                (f"({ddd}) {s[:5]}-{s[5:]}", 60),
                (f"{ddd} {s[:5]} {s[5:]}", 15),
                (f"({ddd}) {s[1:5]}-{s[5:]}", 10),  # the old eight-digit habit
                (f"{ddd}{s}", 15),
            )
        )

    def _call(self, person: Person, at: datetime) -> None:
        rng = self.rng
        at = self._opening_hours(at)
        number = (
            f"55{person.ddd}{person.subscriber}"
            if rng.random() < 0.9
            else f"55{person.ddd}{person.subscriber[1:]}"
        )
        properties: dict[str, Any] = {
            "reason": self._weighted(CALL_REASONS),
            "duration_seconds": rng.randint(45, 900),
            "agent": rng.choice(AGENTS),
            "queue": "SAC",
            "resolved": rng.random() < 0.8,
        }
        self._emit(
            CALLS,
            at,
            {
                "type": "track",
                "anonymousId": f"call:{self.seed}:{self.serial + 1}",
                "event": "Call Received",
                "properties": properties,
                "context": {"traits": {"phone": number}, "library": {"name": "aurora-ura"}},
            },
        )

    # -- helpers -------------------------------------------------------------------------

    def _emit(self, source: str, at: datetime, payload: dict[str, Any]) -> None:
        self.serial += 1
        payload["messageId"] = f"demo-{self.seed}-{self.serial}"
        payload["timestamp"] = iso(at)
        self.calls.append(Call(source, at, payload))

    def _order_id(self, prefix: str) -> str:
        self.orders[prefix] = self.orders.get(prefix, 0) + 1
        return f"{prefix}-{self.seed}-{self.orders[prefix]:06d}"

    def _moments(self, start: datetime, count: int) -> list[datetime]:
        span = (self.anchor - timedelta(hours=1) - start).total_seconds()
        points = sorted(self.rng.uniform(0, span) for _ in range(count))
        return [self._browsing_hours(start + timedelta(seconds=p)) for p in points]

    def _browsing_hours(self, moment: datetime) -> datetime:
        local = (moment + LOCAL).replace(hour=self.rng.choice(range(8, 23)))
        result = local - LOCAL
        return min(result, self.anchor - timedelta(hours=2))

    def _opening_hours(self, moment: datetime) -> datetime:
        local = (moment + LOCAL).replace(hour=self.rng.randint(10, 21))
        return min(local - LOCAL, self.anchor - timedelta(hours=2))

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _weighted(self, choices: tuple[tuple[T, int], ...] | list[tuple[T, int]]) -> T:
        values = [value for value, _ in choices]
        weights = [weight for _, weight in choices]
        return self.rng.choices(values, weights)[0]


def _product(product: tuple[str, str, str, float]) -> dict[str, Any]:
    sku, name, category, price = product
    return {
        "product_id": sku,
        "sku": sku,
        "name": name,
        "category": category,
        "price": price,
        "currency": "BRL",
    }


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return plain.lower().replace(" ", "")


def _slug(text: str) -> str:
    return _ascii(text).replace(">", "-")


# -- loading ------------------------------------------------------------------------------

TOTALS = {
    "events": "SELECT count(*) FROM events",
    "profiles": "SELECT count(*) FROM profiles WHERE id = canonical_id",
    "cross_channel": (
        "SELECT count(*) FROM (SELECT profile_id FROM identifiers GROUP BY profile_id"
        " HAVING count(DISTINCT channel) > 1) AS known"
    ),
    "merged": "SELECT count(*) FROM profiles WHERE id <> canonical_id",
    "conflicts": "SELECT count(*) FROM identity_conflicts",
}
SAMPLE = """
SELECT p.id, p.email, p.phone, count(DISTINCT i.channel) AS channels
FROM profiles p JOIN identifiers i ON i.profile_id = p.id
WHERE p.id = p.canonical_id AND p.email IS NOT NULL AND p.phone IS NOT NULL
GROUP BY p.id, p.email, p.phone
"""
"""Customers worth opening first: known in the most channels (the email breaks ties, once
opened: contacts rest sealed)."""


@dataclass
class Loaded:
    """What a load did, or what a skipped load found."""

    skipped: bool
    sources: list[Source]
    calls: int = 0
    events: int = 0
    not_linked: int = 0
    """Identifiers kept as traits but not linked (an email typed wrong at the till...)."""
    totals: dict[str, int] = field(default_factory=dict)
    sample: dict[str, str] | None = None
    """id, email and phone of a customer known in several channels."""


def ensure_sources(services: Services) -> tuple[list[Source], bool]:
    """The demo's sources, created when missing; True when they hold events already."""
    with services.uow() as uow:
        repo = services.events(uow)
        found: list[Source] = []
        for name, channel in SOURCES:
            source = repo.source_by_name(name)
            if source is None:
                source = create_source(repo, name, channel, uow.clock.now())
            found.append(source)
        uow.commit()
    query = sa.text("SELECT count(*) FROM events WHERE source_id IN :ids").bindparams(
        sa.bindparam("ids", expanding=True)
    )
    with services.uow(write=False) as uow:
        stored = int(uow.conn.execute(query, {"ids": [s.id for s in found]}).scalar_one())
    return found, stored > 0


def batches(calls: list[Call]) -> Iterator[tuple[int, list[Call]]]:
    """(week, calls): week by week, then source by source, up to BATCH_SIZE calls each.

    A week's calls of one source travel together as an app or a till would send them; the
    weeks go in order, so a profile's history is resolved in roughly the order it happened.
    """
    if not calls:
        return
    origin = calls[0].at
    grouped: dict[tuple[int, str], list[Call]] = {}
    for call in calls:
        week = int((call.at - origin).total_seconds() // (7 * 86400))
        grouped.setdefault((week, call.source), []).append(call)
    order = {name: index for index, (name, _) in enumerate(SOURCES)}
    for week, source in sorted(grouped, key=lambda k: (k[0], order[k[1]])):
        group = grouped[week, source]
        for start in range(0, len(group), BATCH_SIZE):
            yield week, group[start : start + BATCH_SIZE]


def load(
    services: Services, demo: Demo, *, on_progress: Callable[[int], None] = lambda _: None
) -> Loaded:
    """Send the demo's calls through parse, acknowledge and the worker, unless loaded before."""
    sources, loaded = ensure_sources(services)
    if loaded:
        return found(services, sources)
    by_name = {s.name: s for s in sources}
    worker = Worker(services)
    result = Loaded(skipped=False, sources=sources)
    current: int | None = None
    for week, batch in batches(demo.calls):
        if current is not None and week != current:
            result.events += worker.drain()
        current = week
        source = by_name[batch[0].source]
        received = batch[-1].at + timedelta(seconds=3)
        parsed = parse_call(
            {"batch": [c.payload for c in batch]},
            None,
            received_at=received,
            default_channel=source.channel,
            limits=services.limits,
            identity=services.identity,
        )
        acknowledge(services.queue, source, parsed.events, micros(received))
        result.calls += len(batch)
        result.not_linked += len(parsed.warnings)
        on_progress(len(batch))
    result.events += worker.drain()
    result.totals = totals(services)
    result.sample = sample(services)
    return result


def found(services: Services, sources: list[Source]) -> Loaded:
    """What an earlier load left."""
    return Loaded(skipped=True, sources=sources, totals=totals(services), sample=sample(services))


def totals(services: Services) -> dict[str, int]:
    with services.uow(write=False) as uow:
        return {
            name: int(uow.conn.execute(sa.text(sql)).scalar_one()) for name, sql in TOTALS.items()
        }


def sample(services: Services) -> dict[str, str] | None:
    with services.uow(write=False) as uow:
        rows = uow.conn.execute(sa.text(SAMPLE)).all()
    if not rows:
        return None
    top = max(row.channels for row in rows)
    reveal = services.cipher.reveal
    row = min((r for r in rows if r.channels == top), key=lambda r: reveal(r.email))
    return {"id": row.id, "email": reveal(row.email), "phone": reveal(row.phone)}


# -- the command --------------------------------------------------------------------------


def run(
    services: Services, console: Console, *, seed: int, customers: int, anchor: datetime
) -> Loaded:
    """Migrate, load (or find loaded), create an admin key and say where to go next."""
    upgrade(services.engines)
    sources, loaded = ensure_sources(services)
    if loaded:
        result = found(services, sources)
        console.print("The demo sources hold events already: loading skipped.")
    else:
        console.print(
            f"Generating a year of Aurora Moda & Casa, São Paulo: {customers:,} customers "
            f"(seed {seed})…"
        )
        demo = generate(seed, anchor, customers)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("Ingesting events", total=len(demo.calls))
            result = load(services, demo, on_progress=lambda n: progress.advance(task, n))
    with services.uow() as uow:
        _, secret = create_api_key(services.api_keys(uow), "demo", "admin", uow.clock.now())
        uow.commit()
    _show(console, services, result, secret)
    base = f"http://{services.settings.host}:{services.settings.port}"
    _show_logins(console, staff_logins(services), base)
    conversations = load_demo_inbox(services, services.clock.now())
    if conversations:
        console.print(
            f"Inbox: {conversations} conversations from demo customers on SMS, WhatsApp, email, "
            "Telegram, web chat, the call centre and a store, for the team "
            f"{DEMO_TEAM!r} (sign in as the agent).",
            highlight=False,
        )
    shop = load_demo_catalog(services)
    console.print(
        f"\nCatalog: {shop.products} products and services, {len(shop.skus)} SKUs, prices with "
        "channel overrides and a promotion (GET /api/commerce/reports/prices).",
        highlight=False,
    )
    stock = load_demo_stock(services)
    console.print(
        f"Stock: {len(stock.skus)} SKUs at {len(stock.locations)} locations, a distribution "
        "centre, three stores and a dark store (GET /api/commerce/availability/AUR-TV-55-4K).",
        highlight=False,
    )
    show_demo_consents(console, services)
    show_demo_decisions(console, services)
    define_demo_segments(services)
    console.print(
        f"\nSegments: {', '.join(DEMO_SEGMENTS)}; the worker works out their members "
        "(GET /api/segments/{id}/size).",
        highlight=False,
    )
    publish_demo_journeys(services)
    console.print(
        f"Journeys: {', '.join(DEMO_JOURNEYS)}, published (GET /api/journeys).",
        highlight=False,
    )
    aftersales = load_demo_aftersales(services)
    if not aftersales.skipped:
        console.print(
            f"After-sales: {aftersales.accounts} loyalty accounts, an online dress exchanged in "
            f"store (GET /api/commerce/exchanges/{aftersales.exchange}) and an app order "
            f"returned damaged for store credit (GET /api/commerce/returns/{aftersales.returned}).",
            highlight=False,
        )
    placed = load_demo_orders(services)
    if placed:
        console.print(
            f"Orders: {len(placed)} across web, store, call centre and marketplace, one click and "
            f"collect ready at Store Paulista (GET /api/commerce/orders/{placed[0]}) and one "
            f"endless aisle sale shipped from the distribution centre "
            f"(GET /api/commerce/orders/{placed[1]}).",
            highlight=False,
        )
    return result


DEMO_ORDERS: tuple[tuple[str, str, str | None, str, str | None, str, tuple[str, ...]], ...] = (
    # key, channel, selling store, fulfilment, fulfilling store, SKU, events
    ("demo-order-1", "web", None, "pickup", "store-paulista", "AUR-CAM-0101-PT-M",
     ("ready_for_pickup",)),
    ("demo-order-2", "store", "store-paulista", "endless_aisle", None, "AUR-TER-0801-50",
     ("shipped",)),
    ("demo-order-3", "call_center", None, "ship", None, "AUR-TV-55-4K", ("shipped", "delivered")),
    ("demo-order-4", "marketplace", None, "ship", None, "AUR-CAM-0101-BR-G", ()),
)  # fmt: skip
DEMO_BUYERS = """
SELECT p.id FROM profiles p WHERE p.id = p.canonical_id AND p.email IS NOT NULL
ORDER BY p.id DESC LIMIT 4
"""


def load_demo_orders(services: Services) -> list[str]:
    """Orders across channels for demo customers, placed once (their keys make a second run
    change nothing); the ids placed, or none when the demo has no customers or stock."""
    from omnicx.commerce.orders import Address, GroupIn, LineIn, Payment, PlaceOrder
    from omnicx.kernel import DomainError

    with services.uow() as uow:
        buyers = [row.id for row in uow.conn.execute(sa.text(DEMO_BUYERS))]
        if len(buyers) < len(DEMO_ORDERS) or services.orders(uow).order_by_key("demo-order-1"):
            return []
        home = Address("Cliente Demo", "Av. Brigadeiro Faria Lima, 2000", "São Paulo",
                       "01452-000", "BR")  # fmt: skip
        placed: list[str] = []
        try:
            for buyer, (key, channel, store, kind, at, sku, events) in zip(
                buyers, DEMO_ORDERS, strict=False
            ):
                price = services.quote(uow, sku, channel).price
                group = GroupIn(kind, (LineIn(sku, 1),), at, None if kind == "pickup" else home)
                order, _ = services.selling.place_order(
                    uow,
                    PlaceOrder(channel, (group,), store, buyer, payment=Payment("card", price)),
                    key=key,
                    actor="system:demo",
                )
                for event in events:
                    services.selling.record_event(uow, order.id, event, actor="system:demo")
                placed.append(order.id)
        except DomainError:
            return []
        uow.commit()
    return placed


DEMO_SEGMENTS: dict[str, dict[str, Any]] = {
    "VIP": {"event": "Order Completed", "count": {"gte": 3}, "within": "365d"},
    "Bought in last 30 days": {"event": "Order Completed", "last_within": "30d"},
    "Opted in to marketing email": {"consent": {"purpose": "marketing", "channel": "email"}},
}


def define_demo_segments(services: Services) -> None:
    """Define the demo segments that are missing; the worker evaluates them for everyone."""
    with services.uow() as uow:
        known = {s.name for s in services.segmenter.all(uow)}
        for name, condition in DEMO_SEGMENTS.items():
            if name not in known:
                services.segmenter.create(uow, name, "A demo segment", condition)
        uow.commit()


DEMO_JOURNEYS: dict[str, dict[str, Any]] = {
    "Abandoned checkout": {
        "description": "Wait an hour, email; a day later, if still no order, an SMS.",
        "trigger": {"event": "Checkout Started", "filter": "event.properties.value > 100"},
        "goal": {"event": "Order Completed"},
        "reentry": {"cooldown": "7d"},
        "start": "wait_1h",
        "nodes": {
            "wait_1h": {"type": "wait", "duration": "1h", "next": "email"},
            "email": {
                "type": "send",
                "purpose": "marketing",
                "category": "reminder",
                "channels": ["email"],
                "content": {
                    "subject": "Esqueceu algo no carrinho?",
                    "text": "Seus produtos ainda estão separados para você.",
                },
                "next": "wait_1d",
            },
            "wait_1d": {"type": "wait", "duration": "1d", "next": "sms"},
            "sms": {
                "type": "send",
                "purpose": "marketing",
                "category": "reminder",
                "channels": ["sms"],
                "content": {"text": "Aurora: seu carrinho espera por você."},
                "next": "done",
            },
            "done": {"type": "exit"},
        },
    },
    "Birthday": {
        "description": "The day before a birthday, at 10:00 local time, a wish by email.",
        "trigger": {"date": {"trait": "birthday", "offset_days": -1, "at": "10:00"}},
        "time_zone": "America/Sao_Paulo",
        "reentry": "always",
        "start": "wish",
        "nodes": {
            "wish": {
                "type": "send",
                "purpose": "marketing",
                "category": "birthday",
                "channels": ["email"],
                "content": {
                    "subject": "Feliz aniversário!",
                    "text": "Um presente espera por você.",
                },
                "next": "done",
            },
            "done": {"type": "exit"},
        },
    },
}


def publish_demo_journeys(services: Services) -> None:
    """Create and publish the demo journeys that are missing."""
    with services.uow() as uow:
        known = {j.name for j in services.conductor.repo(uow).journeys()}
        for name, definition in DEMO_JOURNEYS.items():
            if name not in known:
                journey = services.conductor.create(uow, {"name": name, **definition}, "demo")
                services.conductor.publish(uow, journey.id, None, "demo")
        uow.commit()


STAFF_DOMAIN = "aurora.example.com.br"


def staff_logins(services: Services) -> list[tuple[str, str, str]]:
    """One staff user per role, `<role>@aurora…`, each with a fresh password: (role, email,
    password). A second run keeps the users and gives them new passwords."""
    logins = []
    with services.uow() as uow:
        users = services.users(uow)
        for role in STAFF_ROLES:
            email = f"{role.replace('_', '.')}@{STAFF_DOMAIN}"
            found = users.by_email(email)
            if found is None:
                name = role.replace("_", " ").capitalize() + " (demo)"
                _, password = create_user(
                    users,
                    services.passwords,
                    email=email,
                    role=role,
                    name=name,
                    language="pt-BR",
                    now=uow.clock.now(),
                )
            else:
                password = reset_password(
                    users, services.sessions(uow), services.passwords, found.id, uow.clock.now()
                )
            assert password is not None
            logins.append((role, email, password))
        uow.commit()
    return logins


def _show_logins(console: Console, logins: list[tuple[str, str, str]], base: str) -> None:
    console.print(f"\nConsole: {base}/  Sign in as any role (passwords shown only now):")
    for role, email, password in logins:
        console.print(f"  {role:<16} {email:<38} {password}", markup=False, highlight=False)


def _show(console: Console, services: Services, result: Loaded, secret: str) -> None:
    t = result.totals
    if not result.skipped:
        console.print(
            f"\nLoaded {result.events:,} events into {t['profiles']:,} customer profiles:\n"
            f"  {t['merged']:,} merges (a visit joined to a sign-in, a till to an account…)\n"
            f"  {t['cross_channel']:,} customers known in two channels or more\n"
            f"  {t['conflicts']:,} conflicts: links a rule refused (a family sharing a phone…)\n"
            f"  {result.not_linked:,} identifiers typed wrong at a till, kept but not linked",
            highlight=False,
        )
    else:
        console.print(
            f"{t['events']:,} events, {t['profiles']:,} customer profiles, {t['merged']:,} "
            f"merges, {t['conflicts']:,} conflicts.",
            highlight=False,
        )
    base = f"http://{services.settings.host}:{services.settings.port}"
    console.print(f"\nAPI docs: {base}/docs    API base: {base}/api")
    console.print(f"Admin API key (shown only now): {secret}", markup=False, highlight=False)
    console.print("\nWrite keys (Basic auth user name, or writeKey in the body):")
    width = max(len(s.name) for s in result.sources)
    for source in result.sources:
        console.print(
            f"  {source.name:<{width}}  {source.channel:<11}  {source.write_key}",
            markup=False,
            highlight=False,
        )
    auth = f'-H "Authorization: Bearer {secret}"'
    commands = []
    if result.sample is not None:
        email, phone = result.sample["email"], result.sample["phone"]
        typed = f"({phone[3:5]}) {phone[5:10]}-{phone[10:]}" if phone.startswith("+55") else phone
        commands += [
            "# search a customer, typed any usual way",
            f'curl -s {auth} -G {base}/api/customers --data-urlencode "q={email.upper()}"',
            "# look one up by the phone as a store clerk types it",
            f"curl -s {auth} -G {base}/api/customers/lookup --data-urlencode kind=phone "
            f'--data-urlencode "value={typed}"',
            "# everything a touchpoint needs about them, in one call",
            f"curl -s {auth} {base}/api/customers/{result.sample['id']}/context",
        ]
    commands += [
        "# send an event as the web shop would",
        f"curl -s -u {result.sources[0].write_key}: -H 'Content-Type: application/json' "
        f"""-d '{{"userId": "C100001", "event": "Product Viewed"}}' {base}/v1/track""",
    ]
    console.print("\nTry, once `omnicx serve` runs:")
    for command in commands:
        console.print(f"  {command}", markup=False, highlight=False, soft_wrap=True)
