"""Carts: what a customer means to buy, one cart per customer across devices and channels.
Pure: the cart, its lines and the rules that change them.

    owner       a customer (profile id) or, before the person is known, an anonymous id
                (kept only as its keyed hash); one open cart per owner
    line        a SKU, a quantity, and the unit price quoted for the channel the line was
                added on, with when it was quoted
    merge       an anonymous cart joins the customer's when the anonymous id turns out to be
                theirs, and a merged profile's cart joins the survivor's: quantities are
                added up, the newest quote's price is kept
    checkout    the lines are quoted again for the checkout's channel; each difference is
                shown, and the order is placed at today's prices
    status      open → checked_out (with the order it became) | merged (into another cart,
                which every later use of this cart's id is sent to)
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from omnicx.commerce.model import Money, Quote
from omnicx.kernel import Conflict, Invalid, NotFound

MAX_LINES = 100
MAX_QTY = 999


@dataclass(frozen=True)
class CartLine:
    sku: str
    qty: int
    unit_price: Money
    channel: str
    quoted_at: datetime
    added_at: datetime
    price_reason: str | None = None

    @property
    def total(self) -> Money:
        return self.unit_price.times(self.qty)


@dataclass(frozen=True)
class Cart:
    id: str
    channel: str
    currency: str
    status: str
    created_at: datetime
    updated_at: datetime
    customer_id: str | None = None
    anonymous_hash: str | None = None
    order_id: str | None = None
    merged_into: str | None = None
    lines: tuple[CartLine, ...] = ()

    @property
    def owner_key(self) -> str | None:
        """What makes the cart the one open cart of its owner (None once checked out)."""
        if self.status != "open":
            return None
        return owner_key(self.customer_id, self.anonymous_hash)

    @property
    def total(self) -> Money:
        total = Money(0, self.currency)
        for line in self.lines:
            total = total + line.total
        return total

    def line(self, sku: str) -> CartLine | None:
        for line in self.lines:
            if line.sku == sku:
                return line
        return None


@dataclass(frozen=True)
class PriceChange:
    """A line whose price at checkout differs from the price it was added at."""

    sku: str
    qty: int
    was: Money
    now: Money

    @property
    def difference(self) -> Money:
        return (self.now - self.was).times(self.qty)


def owner_key(customer_id: str | None, anonymous_hash: str | None) -> str:
    if customer_id is not None:
        return f"c:{customer_id}"
    if anonymous_hash is not None:
        return f"a:{anonymous_hash}"
    raise ValueError("a cart belongs to a customer or an anonymous id")


def new_cart(
    cart_id: str,
    *,
    channel: str,
    currency: str,
    now: datetime,
    customer_id: str | None = None,
    anonymous_hash: str | None = None,
) -> Cart:
    owner_key(customer_id, anonymous_hash)
    return Cart(
        cart_id, channel, currency, "open", now, now,
        customer_id=customer_id, anonymous_hash=anonymous_hash,
    )  # fmt: skip


def check_open(cart: Cart) -> Cart:
    if cart.status == "merged":
        raise Conflict("cart_merged", f"cart {cart.id} joined cart {cart.merged_into}", "cart_id")
    if cart.status != "open":
        raise Conflict(
            "cart_checked_out", f"cart {cart.id} became order {cart.order_id}", "cart_id"
        )
    return cart


def check_qty(qty: int, field: str = "qty") -> int:
    if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QTY:
        raise Invalid("invalid_qty", f"{field} must be a whole number from 1 to {MAX_QTY}", field)
    return qty


def _sorted(lines: list[CartLine]) -> tuple[CartLine, ...]:
    return tuple(sorted(lines, key=lambda line: (line.added_at, line.sku)))


def add_line(cart: Cart, quote: Quote, qty: int, channel: str, now: datetime) -> Cart:
    """Add `qty` of the quoted SKU (to the line already there, at the new price)."""
    check_open(cart)
    check_qty(qty)
    if quote.price.currency != cart.currency:
        raise Invalid(
            "currency_mismatch", f"{quote.sku} is priced in {quote.price.currency}", "sku"
        )
    found = cart.line(quote.sku)
    if found is None and len(cart.lines) >= MAX_LINES:
        raise Invalid("cart_full", f"a cart holds at most {MAX_LINES} lines", "sku")
    total = qty + (found.qty if found else 0)
    if total > MAX_QTY:
        raise Invalid("invalid_qty", f"a line holds at most {MAX_QTY} units", "qty")
    line = CartLine(
        quote.sku, total, quote.price, channel, now,
        found.added_at if found else now, quote.reason,
    )  # fmt: skip
    others = [x for x in cart.lines if x.sku != quote.sku]
    return replace(cart, lines=_sorted([*others, line]), channel=channel, updated_at=now)


def set_qty(cart: Cart, sku: str, qty: int, now: datetime) -> Cart:
    check_open(cart)
    check_qty(qty)
    found = cart.line(sku)
    if found is None:
        raise NotFound("line_not_found", f"cart {cart.id} has no {sku}", "sku")
    lines = [replace(x, qty=qty) if x.sku == sku else x for x in cart.lines]
    return replace(cart, lines=_sorted(lines), updated_at=now)


def remove_line(cart: Cart, sku: str, now: datetime) -> Cart:
    check_open(cart)
    if cart.line(sku) is None:
        raise NotFound("line_not_found", f"cart {cart.id} has no {sku}", "sku")
    return replace(cart, lines=tuple(x for x in cart.lines if x.sku != sku), updated_at=now)


def merge(into: Cart, other: Cart, now: datetime) -> Cart:
    """`other`'s lines join `into`: quantities added up (capped at MAX_QTY), the price of
    the newer quote kept, the earlier added_at kept."""
    lines = {line.sku: line for line in into.lines}
    for line in other.lines:
        mine = lines.get(line.sku)
        if mine is None:
            lines[line.sku] = line
            continue
        newer = line if line.quoted_at > mine.quoted_at else mine
        lines[line.sku] = replace(
            newer,
            qty=min(MAX_QTY, mine.qty + line.qty),
            added_at=min(mine.added_at, line.added_at),
        )
    kept = _sorted(list(lines.values()))[:MAX_LINES]
    return replace(into, lines=kept, updated_at=now)


def absorbed(cart: Cart, into: Cart, now: datetime) -> Cart:
    """What is left of a cart that joined another: no lines, a pointer to where they went."""
    return replace(cart, status="merged", merged_into=into.id, lines=(), updated_at=now)


def reprice(cart: Cart, quotes: Mapping[str, Quote]) -> tuple[Cart, list[PriceChange]]:
    """The cart at the prices quoted now, and each line whose price changed."""
    changes: list[PriceChange] = []
    lines: list[CartLine] = []
    for line in cart.lines:
        quote = quotes[line.sku]
        if quote.price != line.unit_price:
            changes.append(PriceChange(line.sku, line.qty, line.unit_price, quote.price))
        lines.append(replace(line, unit_price=quote.price, price_reason=quote.reason))
    return replace(cart, lines=tuple(lines)), changes
