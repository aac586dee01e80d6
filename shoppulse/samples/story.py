"""The realistic sample set: a few days of a shop's exports, with the faults real feeds have.

The shop's truth is simulated first (orders, their items, when each ships, is delivered or
returned); files are then cut from it the way an extract job would: a morning and an evening
batch per day, each with the new orders and (in the morning) the orders whose state changed.
On top of that come the faults the pipeline must survive, each placed on purpose and described
in the file's notes: late orders (items held), late products, orphans, stale and re-delivered
rows, an equal-timestamp conflict, a handful of invalid rows and one file rejected whole.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from containers.engine.contract import SCHEMAS, FileKind
from shoppulse.samples.catalog import CATEGORIES, Product, make_product
from shoppulse.samples.formats import TIMESTAMP_STYLES, SampleFile, Spelling, StatusCase

PRODUCT_COUNT = 200
LATE_CATEGORY = "Rainwear"
LATE_PRODUCTS = 6
LATE_ORDER_SHARE = 0.05
RETURN_SHARE = 0.2
# An injected invalid row needs this many valid rows in its file, so no file but the one meant
# to be rejected crosses the 5 % threshold.
ROWS_PER_INVALID = 25
EXTRACT_TIMES = (time(10), time(18))
ITEMS_LAG = timedelta(minutes=5)
# TheLook's own column order (extra columns in the middle): files are matched by column name.
THELOOK_ORDERS = [
    "order_id",
    "user_id",
    "status",
    "gender",
    "created_at",
    "returned_at",
    "shipped_at",
    "delivered_at",
    "num_of_item",
]
THELOOK_ITEMS = [
    "id",
    "order_id",
    "user_id",
    "product_id",
    "inventory_item_id",
    "status",
    "created_at",
    "shipped_at",
    "delivered_at",
    "returned_at",
    "sale_price",
]
THELOOK_PRODUCTS = [
    "id",
    "cost",
    "category",
    "name",
    "brand",
    "retail_price",
    "department",
    "sku",
    "distribution_center_id",
]


@dataclass
class Item:
    id: int
    product_id: int
    created: datetime
    price: str
    inventory_item_id: int
    returned: datetime | None = None
    quirk_status: str | None = None  # a status spelled against its timestamps (still valid)


@dataclass
class Order:
    id: int
    user_id: int
    gender: str
    created: datetime
    opening_status: str  # pending or processing
    cancelled: bool = False
    shipped: datetime | None = None
    delivered: datetime | None = None
    delivered_status: str = "complete"
    returned: datetime | None = None
    quirk_status: str | None = None
    items: list[Item] = field(default_factory=list)

    def state(self, at: datetime) -> tuple[str, datetime | None, datetime | None, datetime | None]:
        """(status, shipped_at, delivered_at, returned_at) as an extract at `at` sees them."""
        if self.cancelled:
            return "cancelled", None, None, None
        if self.returned and self.returned <= at:
            return self.quirk_status or "returned", self.shipped, self.delivered, self.returned
        if self.delivered and self.delivered <= at:
            return self.delivered_status, self.shipped, self.delivered, None
        if self.shipped and self.shipped <= at:
            return "shipped", self.shipped, None, None
        return self.opening_status, None, None, None


@dataclass
class Batch:
    """One extract: its time, its orders file and the items file that follows it."""

    at: datetime
    orders: SampleFile
    items: SampleFile


def micros(price: str) -> int:
    return int(Decimal(price).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN) * 1_000_000)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H%M")


class SampleSet:
    """Builds the files of one sample set; `files` lists them in landing (= name) order."""

    def __init__(self, orders: int, days: int = 5, start: date = date(2025, 3, 1), seed: int = 7) -> None:
        if orders < 1 or days < 1:
            raise ValueError("a sample set needs at least one order and one day")
        self.rng = random.Random(seed)
        self.n_orders, self.days = orders, days
        self.start = datetime.combine(start, time(), tzinfo=UTC)
        self.files: list[SampleFile] = []
        self.still_held: list[str] = []
        self.products = [make_product(self.rng, i) for i in range(1, PRODUCT_COUNT + 1)]
        first_late = PRODUCT_COUNT + 1
        self.late_products = [make_product(self.rng, first_late + i, LATE_CATEGORY) for i in range(LATE_PRODUCTS)]
        self.late_products_at = self.start + timedelta(days=days // 2 + 1, hours=6)
        self._next_extra_item = 0
        self.orders = self._simulate()
        self.extract_times = [
            datetime.combine(self.start.date() + timedelta(days=d), t, tzinfo=UTC)
            for d in range(days)
            for t in EXTRACT_TIMES
        ] + [self.start + timedelta(days=days, hours=10)]

    # ------------------------------------------------------------------ the shop's truth

    def _simulate(self) -> list[Order]:
        rng = self.rng
        users = rng.sample(range(1, 100_000), max(5, self.n_orders * 3 // 4))
        genders = {u: rng.choice("FM") for u in users}
        created = sorted(
            self.start + timedelta(seconds=rng.randrange(self.days * 86_400)) for _ in range(self.n_orders)
        )
        if self.days > 1:  # an order just before midnight whose items are stamped after it
            created[0] = self.start + timedelta(days=1, seconds=-25)
            created.sort()
        orders, next_item = [], 50_001
        for n, at in enumerate(created):
            user = rng.choice(users)
            order = Order(10_001 + n, user, genders[user], at, rng.choice(("pending", "processing")))
            order.cancelled = rng.random() < 0.12
            if not order.cancelled:
                order.shipped = at + timedelta(seconds=rng.randrange(3 * 3600, 30 * 3600))
                order.delivered = order.shipped + timedelta(seconds=rng.randrange(18 * 3600, 60 * 3600))
                order.delivered_status = rng.choice(("complete", "complete", "delivered"))
            lag = 40 if at.time() >= time(23, 59) else rng.randrange(0, 90)
            for _ in range(rng.choices((1, 2, 3, 4), weights=(55, 25, 13, 7))[0]):
                product = self._pick_product(at)
                order.items.append(
                    Item(
                        next_item,
                        product.id,
                        at + timedelta(seconds=lag),
                        product.retail_price,
                        rng.randrange(1, 500_000),
                    )
                )
                next_item += 1
            orders.append(order)
        self._first_extra_item = next_item + 1000
        return orders

    def _pick_product(self, at: datetime) -> Product:
        """Mostly the catalogue; now and then a product only announced later (items held)."""
        if self.start + timedelta(days=1) <= at < self.late_products_at and self.rng.random() < 0.03:
            return self.rng.choice(self.late_products)
        return self.rng.choice(self.products)

    def extra_item_id(self) -> int:
        """Ids for rows outside the simulated truth (junk, marketplace feed): never reused."""
        self._next_extra_item += 1
        return self._first_extra_item + self._next_extra_item

    # ------------------------------------------------------------------ rows

    def vary(self, spelling: Spelling) -> Spelling:
        """Mostly the file's own spelling; some rows are written by another system."""
        rng = self.rng
        ts = rng.choice(sorted(TIMESTAMP_STYLES)) if rng.random() < 0.1 else spelling.timestamps
        case = rng.choice(list(StatusCase)) if rng.random() < 0.08 else spelling.statuses
        return Spelling(ts, case)

    def order_row(self, order: Order, at: datetime, spelling: Spelling) -> dict[str, str]:
        status, shipped, delivered, returned = order.state(at)
        s = self.vary(spelling)
        return {
            "order_id": str(order.id),
            "user_id": str(order.user_id),
            "status": s.status(status),
            "gender": order.gender,
            "created_at": s.ts(order.created),
            "returned_at": s.ts(returned),
            "shipped_at": s.ts(shipped),
            "delivered_at": s.ts(delivered),
            "num_of_item": str(len(order.items)),
        }

    def item_row(self, order: Order, item: Item, at: datetime, spelling: Spelling) -> dict[str, str]:
        status, shipped, delivered, _ = order.state(at)
        returned = item.returned if item.returned and item.returned <= at else None
        if returned:
            status = item.quirk_status or "returned"
        elif status == "returned":  # a partly returned order: this item was kept
            status = order.delivered_status
        s = self.vary(spelling)
        return {
            "id": str(item.id),
            "order_id": str(order.id),
            "user_id": str(order.user_id),
            "product_id": str(item.product_id),
            "inventory_item_id": str(item.inventory_item_id),
            "status": s.status(status),
            "created_at": s.ts(item.created),
            "shipped_at": s.ts(shipped),
            "delivered_at": s.ts(delivered),
            "returned_at": s.ts(returned),
            "sale_price": item.price,
        }

    def new_file(self, at: datetime, suffix: str, kind: FileKind, thelook: bool, spelling: Spelling) -> SampleFile:
        header = (
            {
                FileKind.ORDERS: THELOOK_ORDERS,
                FileKind.ORDER_ITEMS: THELOOK_ITEMS,
                FileKind.PRODUCTS: THELOOK_PRODUCTS,
            }[kind]
            if thelook
            else list(SCHEMAS[kind].names)
        )
        f = SampleFile(f"{stamp(at)}_{suffix}.csv", kind.value, header, spelling)
        if kind is not FileKind.PRODUCTS:  # products carry no timestamps or statuses
            f.notes.append(f"timestamps mostly {spelling.timestamps}, statuses mostly {spelling.statuses.value}")
        if thelook:
            f.notes.append(
                "TheLook's column order with its extra column(s) "
                f"{', '.join(c for c in header if c not in SCHEMAS[kind].names)} (ignored)"
            )
        self.files.append(f)
        return f

    def inject(self, f: SampleFile, values: dict[str, str] | list[str], why: str) -> bool:
        """Put an invalid row at a random place, if the file stays well under the threshold."""
        if len(f.rows) < ROWS_PER_INVALID * (len(f.invalid) + 1):
            return False
        position = self.rng.randrange(len(f.rows) + 1)
        if isinstance(values, list):
            f.add_raw(values, why, position)
        else:
            f.add(values, why, position)
        return True

    # ------------------------------------------------------------------ files

    def build(self) -> list[SampleFile]:
        """All files, sorted by name, which is their landing order."""
        self._catalogue()
        batches = self._batches()
        self._late_products()
        self._faults(batches)
        self._returns()
        self.files.sort(key=lambda f: f.name)
        self.still_held = annotate_holds(self.files)
        return self.files

    def _catalogue(self) -> None:
        f = self.new_file(self.start + timedelta(hours=6), "products", FileKind.PRODUCTS, True, Spelling())
        f.bom = True
        f.notes.append(
            f"the catalogue: {len(self.products)} products in {len({p.category for p in self.products})} "
            "categories (one with a comma); UTF-8 with a BOM; names with quoted commas and inch marks"
        )
        for product in self.products:
            f.add(product.as_row())
        junk = make_product(self.rng, PRODUCT_COUNT + LATE_PRODUCTS + 1)
        junk.category, junk.name = "", "Gift card (no category)"
        if self.inject(f, junk.as_row(), "empty category"):
            f.notes.append(f"product {junk.id} has an empty category: invalid")

    def _batches(self) -> list[Batch]:
        """The regular extracts: new orders and their items, status changes in the morning."""
        styles = sorted(TIMESTAMP_STYLES)
        late_candidates = (
            [o for o in self.orders if o.created <= self.extract_times[-2]] if len(self.extract_times) > 1 else []
        )
        late = {o.id for o in late_candidates if self.rng.random() < LATE_ORDER_SHARE}
        written: dict[int, tuple[Any, ...]] = {}
        self.first_rows: dict[int, dict[str, str]] = {}
        carry: list[Order] = []
        batches, previous = [], None
        for b, at in enumerate(self.extract_times):
            spelling = Spelling(styles[b % len(styles)], StatusCase.LOWER if b % 3 == 1 else StatusCase.TITLE)
            orders_file = self.new_file(at, "orders", FileKind.ORDERS, b % 2 == 0, spelling)
            items_file = self.new_file(
                at + ITEMS_LAG,
                "items",
                FileKind.ORDER_ITEMS,
                b % 2 == 0,
                Spelling(styles[(b + 1) % len(styles)], spelling.statuses),
            )
            new = [o for o in self.orders if (previous is None or previous < o.created) and o.created <= at]
            updated = []
            if at.time() == EXTRACT_TIMES[0]:
                updated = [o for o in self.orders if o.id in written and o.state(at) != written[o.id]]
            for order in carry + [o for o in new if o.id not in late] + updated:
                row = self.order_row(order, at, spelling)
                orders_file.add(row)
                self.first_rows.setdefault(order.id, row)
                written[order.id] = order.state(at)
            new_ids = {o.id for o in new}  # not `order in new`: dataclass equality over a list was quadratic
            for order in new + updated:
                for item in order.items:
                    items_file.add(self.item_row(order, item, at, items_file.spelling))
                if order.id in new_ids and order.created.date() != order.items[0].created.date():
                    items_file.notes.append(
                        f"order {order.id} was created at {order.created:%Y-%m-%d %H:%M:%S}, its "
                        f"items at {order.items[0].created:%Y-%m-%d %H:%M:%S}: they count on the "
                        "order's day"
                    )
            orders_file.notes.append(
                f"{len(new) - len(late & {o.id for o in new}) + len(carry)} new orders"
                + (f", {len(updated)} orders whose status changed" if updated else "")
            )
            items_file.notes.append(
                f"the items of {len(new)} new orders" + (f" and of {len(updated)} updated orders" if updated else "")
            )
            if carry:
                orders_file.notes.append(
                    "late orders (their items came in the previous batch, held until now): "
                    + ", ".join(str(o.id) for o in carry)
                )
            carry = [o for o in new if o.id in late]
            if carry:
                items_file.notes.append(
                    "items of orders whose rows only come in the next batch (held): orders "
                    + ", ".join(str(o.id) for o in carry)
                )
            batches.append(Batch(at, orders_file, items_file))
            previous = at
        return batches

    def _late_products(self) -> None:
        f = self.new_file(self.late_products_at, "products", FileKind.PRODUCTS, False, Spelling())
        f.crlf = True
        for product in self.late_products:
            f.add(product.as_row())
        late_ids = {p.id for p in self.late_products}
        sold_early = sum(i.product_id in late_ids for o in self.orders for i in o.items)
        f.notes.append(
            f"CRLF line ends; {len(self.late_products)} new products of a new category "
            f"'{LATE_CATEGORY}' (ids {min(late_ids)}-{max(late_ids)}), {sold_early} of their items sold "
            "before this file landed: held until now"
        )
        sold = self.orders[0].items[0].product_id
        moved = next(p for p in self.products if p.id == sold)
        first, final = [c for c in self.rng.sample(CATEGORIES, 3) if c != moved.category][:2]
        for category in (first, final):
            moved.category = category
            f.add(moved.as_row())
        f.notes.append(
            f"product {moved.id} (already sold) appears twice, moved to '{first}' then to '{final}': "
            f"the last row of the last file wins, so its items, on every day, count under '{final}'"
        )
        repriced = self.products[1]
        repriced.retail_price = f"{Decimal(repriced.retail_price) * Decimal('1.1'):.2f}"
        f.add(repriced.as_row())
        f.notes.append(f"product {repriced.id} gets a new retail_price (no KPI depends on it)")

    def _faults(self, batches: list[Batch]) -> None:
        """Invalid rows, stale and conflicting versions, orphans, a re-delivery, a rejected file.
        Short sets have fewer batches: a fault then goes to the last one."""
        rng = self.rng

        def batch(n: int) -> Batch:
            return batches[min(n, len(batches) - 1)]

        f = batch(4).orders
        if f.rows and self.inject(
            f,
            {**dict(zip(f.header, f.rows[0][0], strict=False)), "status": "Lost"},
            "status 'Lost' is not in the contract",
        ):
            f.notes.append("a second row for one order with status 'Lost': invalid, the valid row stands")
        f = batch(2).orders
        f.crlf = True
        f.notes.append("CRLF line ends")
        row = dict(zip(f.header, f.rows[-1][0], strict=False)) if f.rows else {}
        if row and self.inject(f, {**row, "order_id": row["order_id"] + "-B"}, "order_id is not an integer"):
            f.notes.append("a junk row whose order_id is not an integer")
        f = batch(2).items
        order = self.orders[0]
        extra = Item(self.extra_item_id(), self.products[2].id, order.created, "19.99", 1)
        if self.inject(
            f, {**self.item_row(order, extra, batch(2).at, f.spelling), "created_at": ""}, "created_at missing"
        ):
            f.notes.append(f"item {extra.id} has no created_at: invalid, never counted")
        orphan_order = self.orders[-1].id + 1000
        f = batch(3).items
        for _ in range(2):
            ghost = Order(orphan_order, 1, "F", batch(3).at - timedelta(hours=1), "processing")
            f.add(
                self.item_row(
                    ghost,
                    Item(self.extra_item_id(), self.products[3].id, ghost.created, "24.50", 2),
                    batch(3).at,
                    f.spelling,
                )
            )
        f.notes.append(f"2 items of order {orphan_order}, which never arrives: held to the end")
        f = batch(5).orders
        stale = [
            o
            for o in self.orders
            if o.id in self.first_rows and o.state(batch(5).at) != o.state(o.created) and o.created < batch(4).at
        ][:4]
        for order in stale:
            f.add(self.first_rows[order.id], position=rng.randrange(len(f.rows) + 1))
        if stale:
            f.notes.append(
                "stale copies (first versions) of orders "
                + ", ".join(str(o.id) for o in stale)
                + " that have moved on since: older lifecycle, they lose"
            )
        f = batch(5).items
        if self.inject(
            f,
            self.item_row(
                order,
                Item(self.extra_item_id(), self.products[4].id, order.created, "-15.00", 3),
                batch(5).at,
                f.spelling,
            ),
            "negative sale_price",
        ):
            f.notes.append("one item with a negative sale_price: invalid")
        self._equal_timestamps(batch(6).items, batch(6).at)
        f = batch(6).items
        if f.rows and self.inject(f, list(f.rows[0][0][:6]), "6 fields where the header has more"):
            f.notes.append("one truncated row (too few fields): invalid")
        f = batch(6).orders
        if f.rows:
            row = dict(zip(f.header, f.rows[-1][0], strict=False))
            broken = f"{row['created_at'][:10]}T26:15:00Z"
            if self.inject(f, {**row, "created_at": broken}, f"created_at '{broken}' is no time of day"):
                f.notes.append("one row with an impossible created_at (hour 26): invalid")
        self._delivered_before_shipped(batches[-1].items)
        self._marketplace(batch(4).at + timedelta(hours=3))
        self._resend(batch(1).items, batch(4).at + timedelta(hours=2))

    def _equal_timestamps(self, f: SampleFile, at: datetime) -> None:
        """One item sent again with the same timestamps and another price: tie rule (a) decides."""
        order = next((o for o in self.orders if o.cancelled and o.created < at - timedelta(hours=12)), None)
        if order is None:
            return
        item = order.items[0]
        corrected = f"{Decimal(item.price) * Decimal('0.8'):.2f}"
        winner = max((item.price, corrected), key=lambda p: str(micros(p)))
        f.notes.append(
            f"item {item.id} again with the same timestamps but sale_price {corrected} (first sent as "
            f"{item.price}): equal lifecycle, so the greater normalised row wins, here {winner} "
            f"(sale_price compared as the text of its micro-units, {micros(item.price)} vs {micros(corrected)})"
        )
        item.price = corrected
        f.add(self.item_row(order, item, at, f.spelling), position=self.rng.randrange(len(f.rows) + 1))
        item.price = winner

    def _delivered_before_shipped(self, f: SampleFile) -> None:
        row = next(
            (
                dict(zip(f.header, fields, strict=False))
                for fields, why in f.rows
                if not why and fields[f.header.index("shipped_at")]
            ),
            None,
        )
        if row is None:
            return
        shipped = parse_utc(row["shipped_at"])
        bad = (shipped - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.inject(f, {**row, "delivered_at": bad}, "delivered_at before shipped_at"):
            f.notes.append(f"a version of item {row['id']} delivered before it shipped: invalid")

    def _marketplace(self, at: datetime) -> None:
        """A partner feed with broken prices: more than 5 % invalid, so rejected whole."""
        f = self.new_file(at, "items_marketplace", FileKind.ORDER_ITEMS, False, Spelling("T and Z"))
        f.rejected = "more than 5 % of its rows are invalid"
        sold = [o for o in self.orders if o.created < at - timedelta(hours=6)] or self.orders
        for n in range(24):
            order = self.rng.choice(sold)
            product = self.rng.choice(self.products)
            price = product.retail_price if n % 3 else self.rng.choice(("$12.00", "12,50", "N/A"))
            row = self.item_row(
                order, Item(self.extra_item_id(), product.id, order.created, price, 4), order.created, f.spelling
            )
            f.add(row, None if n % 3 else f"sale_price '{price}' is not a number")
        f.notes.append(
            "a marketplace partner's items with malformed prices in 8 of 24 rows: the file is rejected "
            "whole and none of its 16 valid rows may count"
        )

    def _resend(self, original: SampleFile, at: datetime) -> None:
        copy = SampleFile(
            f"{stamp(at)}_items_resend.csv",
            original.kind,
            original.header,
            original.spelling,
            list(original.rows),
            crlf=original.crlf,
            bom=original.bom,
        )
        copy.notes.append(f"byte-identical re-delivery of {original.name}: changes nothing")
        self.files.append(copy)

    def _returns(self) -> None:
        """Later versions of some orders and items: returned, so their lifecycle is the newest."""
        at = self.extract_times[-1] + timedelta(hours=2)
        orders_file = self.new_file(at, "returns_orders", FileKind.ORDERS, False, Spelling("T and Z"))
        items_file = self.new_file(at + ITEMS_LAG, "returns_items", FileKind.ORDER_ITEMS, False, Spelling("T and Z"))
        orders_file.bom = True
        orders_file.notes.append("UTF-8 with a BOM")
        floor = self.extract_times[-1]
        candidates = [o for o in self.orders if o.delivered and o.delivered <= at - timedelta(hours=3)]
        chosen = [o for o in candidates if self.rng.random() < RETURN_SHARE] or candidates[:1]
        full, partial = [], []
        for order in chosen:
            assert order.delivered is not None  # a candidate was delivered
            lo = max(order.delivered, floor) + timedelta(minutes=1)
            returned = lo + timedelta(seconds=self.rng.randrange(int((at - timedelta(hours=1) - lo).total_seconds())))
            if len(order.items) > 1 and self.rng.random() < 0.3:
                order.items[0].returned = returned
                partial.append(order)
            else:
                order.returned = returned
                for item in order.items:
                    item.returned = returned
                full.append(order)
        if full:
            full[0].quirk_status = full[0].delivered_status
            orders_file.notes.append(
                f"order {full[0].id} has returned_at set but status '{full[0].quirk_status}': it counts as returned"
            )
        if partial:
            partial[0].items[0].quirk_status = "complete"
            items_file.notes.append(
                f"item {partial[0].items[0].id} has returned_at set but status 'complete': it counts as returned"
            )
        for order in full:
            orders_file.add(self.order_row(order, at, orders_file.spelling))
        for order in full + partial:
            for item in order.items:
                if item.returned:
                    items_file.add(self.item_row(order, item, at, items_file.spelling))
        orders_file.notes.append(f"{len(full)} orders returned whole")
        items_file.notes.append(
            f"the returned items: all items of {len(full)} orders; one item of each of "
            f"{len(partial)} orders returned in part (those orders stay not returned, "
            "but count as returned in the item's category)"
        )
        kept = next((o for o in candidates if o not in chosen), None)
        if kept is not None:
            item = kept.items[0]
            row = {
                **self.item_row(kept, item, at, items_file.spelling),
                "status": "Returned",
                "returned_at": items_file.spelling.ts(item.created - timedelta(days=2)),
            }
            if self.inject(items_file, row, "returned_at before created_at"):
                items_file.notes.append(
                    f"a version of item {item.id} returned before it was created: invalid, the item stays not returned"
                )


def parse_utc(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def annotate_holds(files: list[SampleFile]) -> list[str]:
    """How many item rows each file leaves held for a missing order or product, and releases;
    returns the item ids still held at the end."""
    orders: set[str] = set()
    products: set[str] = set()
    held: dict[str, tuple[str, str]] = {}
    for f in files:
        if f.rejected:
            continue
        rows = f.valid_rows()
        if f.kind == FileKind.ORDER_ITEMS.value:
            for row in rows:
                held.pop(row["id"], None)
                if row["order_id"] not in orders or row["product_id"] not in products:
                    held[row["id"]] = (row["order_id"], row["product_id"])
                    f.held += 1
            continue
        (orders if f.kind == FileKind.ORDERS.value else products).update(
            row["order_id" if f.kind == FileKind.ORDERS.value else "id"] for row in rows
        )
        released = [i for i, (o, p) in held.items() if o in orders and p in products]
        f.released = len(released)
        for i in released:
            del held[i]
    return sorted(held, key=int)
