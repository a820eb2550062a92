"""The benchmark plant: a maker of PEEK spinal implants over two years, scaled from the
reference size of issue 5 and deterministic by seed.

At the reference size (1,000,000 serials) the plant has 200 suppliers (10 of them contract
sterilizers), 200,000 supplier lots each received once into an internal material lot,
50,000 work orders over four made BOM levels (components from raw material, subassemblies,
assemblies, finished devices), 1,000,000 serials in the 20,000 finished lots, and 50,000
shipments to 2,000 consignees. Every other count scales with the number of serials.

Material moves the way it does in a plant: a work order consumes, for each part of its bill of
materials, the lot that is open at that moment (the raw lot received last, the component lot
made last), sometimes with the rest of the previous lot too; shipments pick serials first in,
first out. Most raw lots are therefore used by a handful of orders, but the PEEK resin, which
every component family is moulded from, comes in a few big lots: one bulk lot is open for 10 %
of the two years and reaches well over 10 % of all serials. That lot is the worst case of a
forward trace and a recall.

This module only computes; ``bench.load`` writes. The master data (organizations, parts,
specifications, approved suppliers) is described here and created through the services; the
rows of everything posted afterwards are built here, with the trace nodes and edges exactly as
the receipt, production and shipment services write them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from trace_core.records.canonical import canonical_hash

#: Bump when the rows for a given size and seed change: a stored plant of another generator
#: version is rebuilt rather than reused.
GENERATOR_VERSION = 2
REFERENCE_SERIALS = 1_000_000
MINIMUM_SERIALS = 1_000
#: Counts at the reference size (issue 5); every one scales with the number of serials.
REFERENCE_COUNTS = {
    "suppliers": 200,
    "supplier_lots": 200_000,
    "work_orders": 50_000,
    "finished_lots": 20_000,
    "shipments": 50_000,
    "consignees": 2_000,
    "raw_parts": 300,
    "component_parts": 60,
    "subassembly_parts": 40,
    "assembly_parts": 30,
    "finished_parts": 40,
}
#: Floors for small plants, so that every part of the structure still exists.
MINIMUM_COUNTS = {
    "suppliers": 6,
    "consignees": 3,
    "raw_parts": 12,
    "component_parts": 3,
    "subassembly_parts": 2,
    "assembly_parts": 2,
    "finished_parts": 2,
}
#: How the non-finished work orders split over the three lower made levels.
LOWER_LEVEL_SHARES = (12, 10, 8)
#: Share of serials that have left in a shipment by the end of the two years.
SHIPPED_SHARE = 0.9
#: The bulk resin lot is open for this part of the timeline.
BULK_RESIN_WINDOW = (0.445, 0.545)
#: Share of component parts moulded from the PEEK resin (the rest from bar stock).
RESIN_COMPONENT_SHARE = 0.6
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
SPAN = dt.timedelta(days=730)
LEVEL_NAMES = {1: "component", 2: "subassembly", 3: "assembly", 4: "finished"}


@dataclass(frozen=True)
class PlantSize:
    """How big a plant is; ``for_serials`` scales the reference size."""

    serials: int
    suppliers: int
    supplier_lots: int
    work_orders: int
    finished_lots: int
    shipments: int
    consignees: int
    raw_parts: int
    component_parts: int
    subassembly_parts: int
    assembly_parts: int
    finished_parts: int

    @classmethod
    def for_serials(cls, serials: int) -> PlantSize:
        if serials < MINIMUM_SERIALS:
            raise ValueError(f"a plant needs at least {MINIMUM_SERIALS} serials")
        scale = serials / REFERENCE_SERIALS
        counts = {
            name: max(MINIMUM_COUNTS.get(name, 1), round(reference * scale))
            for name, reference in REFERENCE_COUNTS.items()
        }
        return cls(serials=serials, **counts)

    def orders_per_level(self) -> tuple[int, int, int, int]:
        """Work orders of levels 1 (components) to 4 (finished devices)."""
        lower = self.work_orders - self.finished_lots
        total = sum(LOWER_LEVEL_SHARES)
        first = round(lower * LOWER_LEVEL_SHARES[0] / total)
        second = round(lower * LOWER_LEVEL_SHARES[1] / total)
        return first, second, lower - first - second, self.finished_lots

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SupplierDesign:
    name: str
    kind: str
    address: str
    #: Three letters in the supplier's lot numbers.
    code: str


@dataclass(frozen=True)
class PartDesign:
    number: str
    name: str
    #: 0 for bought material, 1..4 for made parts (4: finished devices).
    level: int
    #: What the part is for: resin, bar, additive, hardware, packaging, label, sterilization
    #: for bought parts; component, subassembly, assembly, finished for made ones.
    role: str
    unit: str
    gtin: str | None = None
    #: Bill of materials: indexes of the parts one work order consumes.
    children: tuple[int, ...] = ()
    #: Bought parts: indexes of the approved suppliers, the usual one first.
    suppliers: tuple[int, ...] = ()

    @property
    def kind(self) -> str:
        """``Part.kind``: what the production service accepts as a work order's part for
        finished devices, the level's name for the parts in between."""
        return "material" if self.level == 0 else LEVEL_NAMES[self.level]


@dataclass
class PlantDesign:
    """The master data of a plant: suppliers and parts with their bills of materials."""

    size: PlantSize
    seed: int
    suppliers: list[SupplierDesign]
    parts: list[PartDesign]

    def parts_of_level(self, level: int) -> list[int]:
        return [i for i, p in enumerate(self.parts) if p.level == level]


@dataclass(frozen=True)
class MasterIds:
    """Database ids of the master data, as the services created it."""

    organizations: list[int]
    parts: list[int]
    #: The effective specification of each bought part (``None`` for made parts).
    specifications: list[int | None]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass
class PlantRows:
    """Every posted row of the plant, table by table in an order foreign keys allow."""

    tables: list[Table]
    #: The raw lot that reaches the most serials: its identifier and reach.
    widest_lot: str
    widest_lot_serials: int
    facts: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {t.name: len(t.rows) for t in self.tables}


def timestamp(t: float) -> dt.datetime:
    """The moment ``t`` (0..1) of the plant's two years."""
    return START + SPAN * t


def gtin14(item: int) -> str:
    body = f"0061414{item:06d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def _letters(index: int) -> str:
    a, rest = divmod(index, 26 * 26)
    b, c = divmod(rest, 26)
    return "".join(chr(ord("A") + x) for x in (a % 26, b, c))


def design_plant(size: PlantSize, seed: int) -> PlantDesign:
    rng = random.Random(f"traceport-bench:{seed}:design")
    cms = max(1, round(size.suppliers * 0.05))
    suppliers = []
    for i in range(size.suppliers):
        kind = "contract_manufacturer" if i >= size.suppliers - cms else "supplier"
        legal = ("GmbH", "Inc.", "Ltd", "S.A.", "Co., Ltd.", "B.V.")[i % 6]
        label = "Sterilization Services" if kind == "contract_manufacturer" else "Materials"
        suppliers.append(
            SupplierDesign(
                name=f"Bench {label} {i + 1:03d} {legal}",
                kind=kind,
                address=f"{10 + i} Industrial Park, Bench City {i % 50:02d}",
                code=_letters(i),
            )
        )
    regular = list(range(size.suppliers - cms))
    sterilizers = list(range(size.suppliers - cms, size.suppliers))

    shares = (
        ("bar", 0.04),
        ("additive", 0.06),
        ("hardware", 0.45),
        ("packaging", 0.22),
        ("label", 0.10),
    )
    roles = ["resin"]
    for role, share in shares:
        roles += [role] * max(1, round(size.raw_parts * share))
    roles += ["sterilization"] * max(1, size.raw_parts - len(roles))
    units = {
        "resin": "kg",
        "bar": "kg",
        "additive": "kg",
        "hardware": "pcs",
        "packaging": "pcs",
        "label": "pcs",
        "sterilization": "load",
    }
    titles = {
        "resin": "PEEK resin, implant grade",
        "bar": "Ti-6Al-4V ELI bar stock",
        "additive": "Barium sulfate masterbatch",
        "hardware": "Titanium locking pin",
        "packaging": "Sterile barrier pouch",
        "label": "Label stock",
        "sterilization": "Gamma sterilization, cage load",
    }
    parts: list[PartDesign] = []
    for i, role in enumerate(roles):
        if role == "resin":
            approved: tuple[int, ...] = (0,)
        elif role == "sterilization":
            approved = tuple(rng.sample(sterilizers, min(len(sterilizers), rng.randint(1, 2))))
        else:
            approved = tuple(rng.sample(regular[1:], min(len(regular) - 1, rng.randint(1, 3))))
        title = titles[role] if role == "resin" else f"{titles[role]} {i:03d}"
        parts.append(PartDesign(f"RM-{i + 1:04d}", title, 0, role, units[role], suppliers=approved))
    by_role: dict[str, list[int]] = {}
    for i, p in enumerate(parts):
        by_role.setdefault(p.role, []).append(i)

    def pick(pool: list[int], low: int, high: int) -> list[int]:
        return rng.sample(pool, min(len(pool), rng.randint(low, high)))

    def add(level: int, count: int, prefix: str, title: str, bom: Any) -> list[int]:
        made = []
        for j in range(count):
            children = tuple(dict.fromkeys(bom(j)))
            gtin = gtin14(len(parts)) if level == 4 else None
            parts.append(
                PartDesign(
                    f"{prefix}-{j + 1:04d}",
                    f"{title} {j + 1:03d}",
                    level,
                    LEVEL_NAMES[level],
                    "pcs",
                    gtin,
                    children,
                )
            )
            made.append(len(parts) - 1)
        return made

    moulded = math.ceil(size.component_parts * RESIN_COMPONENT_SHARE)

    def component(j: int) -> list[int]:
        main = by_role["resin"][0] if j < moulded else rng.choice(by_role["bar"])
        return [main, *pick(by_role["additive"], 1, 2)]

    components = add(1, size.component_parts, "CMP", "Cage body, moulded", component)
    resin_components = components[:moulded]
    # Every subassembly holds a moulded component, so the resin reaches every device family.
    subassemblies = add(
        2,
        size.subassembly_parts,
        "SUB",
        "Cage with markers",
        lambda j: [
            rng.choice(resin_components),
            *([rng.choice(components)] if rng.random() < 0.5 else []),
            *pick(by_role["hardware"], 1, 3),
        ],
    )
    assemblies = add(
        3,
        size.assembly_parts,
        "ASY",
        "Cage assembly",
        lambda j: [
            *pick(subassemblies, 1, 2),
            *([rng.choice(components)] if rng.random() < 0.4 else []),
            *pick(by_role["hardware"], 1, 2),
        ],
    )
    add(
        4,
        size.finished_parts,
        "FG",
        "Spinal cage, PEEK, sterile",
        lambda j: [
            rng.choice(assemblies),
            *([rng.choice(subassemblies)] if rng.random() < 0.4 else []),
            *pick(by_role["packaging"], 3, 4),
            *pick(by_role["label"], 1, 2),
            rng.choice(by_role["sterilization"]),
            *([rng.choice(by_role["hardware"])] if rng.random() < 0.3 else []),
        ],
    )
    return PlantDesign(size, seed, suppliers, parts)


# -- posted rows ----------------------------------------------------------------------------

DOCUMENTS = (
    "id",
    "organization_id",
    "sha256",
    "filename",
    "content_type",
    "size",
    "page_count",
    "extracted_text",
    "uploaded_by_kind",
    "uploaded_by_id",
    "uploaded_by_name",
    "channel",
    "created_at",
)
SUPPLIER_LOTS = (
    "id",
    "organization_id",
    "part_id",
    "specification_id",
    "lot_number",
    "quantity",
    "unit",
    "manufactured_on",
    "expires_on",
    "coa_document_id",
    "status",
    "verdict",
    "version",
    "created_by_kind",
    "created_by_id",
    "created_at",
    "decided_at",
)
INTERNAL_LOTS = ("id", "lot_number", "part_id", "kind", "quantity", "unit", "status", "created_at")
RECEIPTS = (
    "id",
    "number",
    "supplier_lot_id",
    "internal_lot_id",
    "quantity",
    "unit",
    "status",
    "received_at",
)
WORK_ORDERS = ("id", "number", "output_lot_id", "status", "posted_at")
WORK_ORDER_INPUTS = ("id", "work_order_id", "lot_id", "quantity", "unit")
SERIALS = ("id", "serial", "lot_id", "status", "created_at")
SHIPMENTS = ("id", "number", "consignee_name", "consignee_address", "status", "shipped_at")
SHIPMENT_ITEMS = ("id", "shipment_id", "serial_id")
TRACE_NODES = ("id", "kind", "ref_id", "identifier", "organization_id", "part_id", "created_at")
TRACE_EDGES = (
    "id",
    "source_id",
    "target_id",
    "source_kind",
    "target_kind",
    "kind",
    "event_type",
    "event_id",
    "quantity",
    "unit",
    "created_at",
)


@dataclass
class _RawLot:
    part: int
    supplier: int
    start: float
    received: float
    consumed: Decimal = Decimal(0)
    users: list[int] = field(default_factory=list)


@dataclass
class _Order:
    t: float
    level: int
    part: int
    units: int = 0
    #: (("raw", raw lot index) or ("made", order index), quantity, unit)
    inputs: list[tuple[tuple[str, int], Decimal, str]] = field(default_factory=list)
    users: list[int] = field(default_factory=list)
    first_serial: int = 0


def _quantity(rng: random.Random, role: str, units: int) -> Decimal:
    if role == "resin":
        return Decimal(str(round(rng.uniform(4, 60), 1)))
    if role == "bar":
        return Decimal(str(round(rng.uniform(2, 30), 1)))
    if role == "additive":
        return Decimal(str(round(rng.uniform(0.1, 2), 2)))
    if role == "sterilization":
        return Decimal(1)
    if role == "label":
        return Decimal(units * 2)
    return Decimal(units)


def plant_rows(design: PlantDesign, ids: MasterIds) -> PlantRows:
    """Every row posted in the plant's two years, with ids, in posting order per table."""
    size, parts = design.size, design.parts
    seed = design.seed
    rng = random.Random(f"traceport-bench:{seed}:orders")

    # Work orders: each level's orders spread over the two years, popular parts more often.
    orders: list[_Order] = []
    for level, count in enumerate(size.orders_per_level(), start=1):
        level_parts = design.parts_of_level(level)
        weights = [1 / (rank + 1) ** 0.8 for rank in range(len(level_parts))]
        chosen = level_parts[:count] + rng.choices(
            level_parts, weights, k=max(0, count - len(level_parts))
        )
        orders += [_Order(rng.random(), level, p) for p in chosen]
    orders.sort(key=lambda o: o.t)
    made_times: dict[int, list[float]] = {}
    made_orders: dict[int, list[int]] = {}
    for index, order in enumerate(orders):
        made_times.setdefault(order.part, []).append(order.t)
        made_orders.setdefault(order.part, []).append(index)

    finished = [i for i, o in enumerate(orders) if o.level == 4]
    weights_f = [rng.uniform(0.3, 1.7) for _ in finished]
    total_w = sum(weights_f)
    sizes = [max(1, int(size.serials * w / total_w)) for w in weights_f]
    for k in range(size.serials - sum(sizes)):
        sizes[k % len(sizes)] += 1
    while sum(sizes) > size.serials:  # only when many lots were raised to one serial
        biggest = max(range(len(sizes)), key=sizes.__getitem__)
        sizes[biggest] -= 1
    next_serial = 0
    for index, count in zip(finished, sizes, strict=True):
        orders[index].units = count
        orders[index].first_serial = next_serial
        next_serial += count
    for order in orders:
        if order.level < 4:
            order.units = rng.randint(200, 2000)

    # Raw lots: as many per bought part as its use calls for; the resin in a few big lots.
    uses = [0] * len(parts)
    for order in orders:
        for child in parts[order.part].children:
            uses[child] += 1
    raw_parts = design.parts_of_level(0)
    per_lot = {"bar": 25, "additive": 60, "hardware": 1.1, "packaging": 1.3, "label": 1.3}
    resin = next(i for i in raw_parts if parts[i].role == "resin")
    resin_lots = max(4, round(uses[resin] / 300))
    targets = {
        p: max(1.0, uses[p] / per_lot.get(parts[p].role, 1.0)) for p in raw_parts if p != resin
    }
    room = size.supplier_lots - resin_lots
    if room < len(targets):
        raise ValueError("too few supplier lots for the bought parts")
    factor = room / sum(targets.values())
    lots_of = {p: max(1, int(t * factor)) for p, t in targets.items()}
    ranked = sorted(targets, key=lambda p: targets[p] * factor - lots_of[p], reverse=True)
    k = 0
    while sum(lots_of.values()) < room:
        lots_of[ranked[k % len(ranked)]] += 1
        k += 1
    ranked_big = sorted(lots_of, key=lots_of.__getitem__, reverse=True)
    k = 0
    while sum(lots_of.values()) > room:
        p = ranked_big[k % len(ranked_big)]
        if lots_of[p] > 1:
            lots_of[p] -= 1
        k += 1
    lots_of[resin] = resin_lots

    use_times: dict[int, list[float]] = {}
    for order in orders:
        for child in parts[order.part].children:
            use_times.setdefault(child, []).append(order.t)
    raw_lots: list[_RawLot] = []
    starts: dict[int, list[float]] = {}
    first_lot: dict[int, int] = {}
    for p in raw_parts:
        n = lots_of[p]
        if p == resin:
            low, high = BULK_RESIN_WINDOW
            before = max(1, round((n - 1) * low / (1 - (high - low))))
            after = n - 1 - before
            begin = [i * low / before for i in range(before)] + [low]
            begin += [high + i * (1 - high) / after for i in range(after)]
        else:
            begin = _lot_starts(rng, use_times.get(p, []), n)
        starts[p] = begin
        first_lot[p] = len(raw_lots)
        approved = parts[p].suppliers
        for start in begin:
            supplier = approved[0] if rng.random() < 0.7 else rng.choice(approved)
            received = max(0.0, start - rng.uniform(0, 0.004))
            raw_lots.append(_RawLot(p, supplier, start, received))
    bulk_lot = first_lot[resin] + starts[resin].index(BULK_RESIN_WINDOW[0])

    # What each order consumed: the open lot of every part of its bill of materials.
    for index, order in enumerate(orders):
        for child in parts[order.part].children:
            part = parts[child]
            if part.level == 0:
                k = bisect.bisect_right(starts[child], order.t) - 1
                picked = [k - 1, k] if k > 0 and rng.random() < 0.1 else [k]
                for lot_k in picked:
                    g = first_lot[child] + lot_k
                    quantity = _quantity(rng, part.role, order.units)
                    raw_lots[g].consumed += quantity
                    raw_lots[g].users.append(index)
                    order.inputs.append((("raw", g), quantity, part.unit))
            else:
                j = bisect.bisect_left(made_times[child], order.t) - 1
                if j < 0:
                    continue  # nothing of that part made yet: the order used older stock
                picked = [j - 1, j] if j > 0 and rng.random() < 0.15 else [j]
                for lot_j in picked:
                    source = made_orders[child][lot_j]
                    quantity = Decimal(max(1, order.units // len(picked)))
                    orders[source].users.append(index)
                    order.inputs.append((("made", source), quantity, "pcs"))

    # Shipments: first in, first out, to consignees of very different sizes.
    ship_rng = random.Random(f"traceport-bench:{seed}:shipments")
    finished_times = [orders[i].t for i in finished]
    produced_before = [0]
    for index in finished:
        produced_before.append(produced_before[-1] + orders[index].units)
    ship_times = sorted(ship_rng.random() for _ in range(size.shipments))
    raw_sizes = [ship_rng.lognormvariate(0, 0.8) for _ in range(size.shipments)]
    to_ship = round(size.serials * SHIPPED_SHARE)
    scale = to_ship / sum(raw_sizes)
    consignee_weights = [1 / (rank + 1) ** 0.7 for rank in range(size.consignees)]
    shipments: list[tuple[float, int, int, int]] = []  # (time, first serial, count, consignee)
    pointer, last_t = 0, 0.0
    for t, raw in zip(ship_times, raw_sizes, strict=True):
        t = max(t, last_t)
        wanted = max(1, round(raw * scale))
        available = produced_before[bisect.bisect_left(finished_times, t)] - pointer
        if available <= 0:
            if pointer >= size.serials:
                break
            lot = bisect.bisect_right(produced_before, pointer) - 1
            t = max(t, finished_times[lot] + 1e-9)
            available = produced_before[bisect.bisect_left(finished_times, t)] - pointer
        take = min(wanted, available)
        consignee = ship_rng.choices(range(size.consignees), consignee_weights)[0]
        shipments.append((t, pointer, take, consignee))
        pointer += take
        last_t = t
    shipped_in = [-1] * size.serials
    for number, (_t, first, count, _c) in enumerate(shipments):
        for s in range(first, first + count):
            shipped_in[s] = number

    tables, identifiers = _emit(design, ids, orders, raw_lots, shipments, shipped_in, seed)
    widest, reach = _widest_lot(orders, raw_lots, bulk_lot)
    rows = PlantRows(tables, identifiers[widest], reach)
    rows.facts.update(
        {
            "raw_lots_consumed": sum(1 for lot in raw_lots if lot.users),
            "serials_shipped": pointer,
            "widest_lot_serials": reach,
        }
    )
    return rows


def _lot_starts(rng: random.Random, use_times: list[float], lots: int) -> list[float]:
    """When each of ``lots`` lots of a bought part is opened: a new lot arrives as the last
    one runs out, between two uses, so lots cover runs of uses of random length; lots beyond
    the number of uses arrive after the last use and are still in stock at the end."""
    uses = len(use_times)
    if uses == 0:
        return [0.0, *sorted(rng.random() for _ in range(lots - 1))]
    cuts = sorted(rng.sample(range(1, uses), lots - 1)) if lots <= uses else list(range(1, uses))
    begin = [0.0] + [rng.uniform(use_times[c - 1], use_times[c]) for c in cuts]
    begin += sorted(rng.uniform(use_times[-1], 1.0) for _ in range(lots - len(begin)))
    return begin


def _widest_lot(orders: list[_Order], raw_lots: list[_RawLot], bulk: int) -> tuple[int, int]:
    """The raw lot reaching the most serials among the bulk resin lot and the lots with the
    most direct users (a walk over the plant in memory, not over the database)."""

    def serials_reached(g: int) -> int:
        seen: set[int] = set()
        todo = list(raw_lots[g].users)
        while todo:
            index = todo.pop()
            if index not in seen:
                seen.add(index)
                todo += orders[index].users
        return sum(orders[i].units for i in seen if orders[i].level == 4)

    candidates = sorted(range(len(raw_lots)), key=lambda g: len(raw_lots[g].users))[-20:]
    reach = {g: serials_reached(g) for g in {bulk, *candidates}}
    widest = max(reach, key=lambda g: (reach[g], g == bulk))
    return widest, reach[widest]


def _emit(
    design: PlantDesign,
    ids: MasterIds,
    orders: list[_Order],
    raw_lots: list[_RawLot],
    shipments: list[tuple[float, int, int, int]],
    shipped_in: list[int],
    seed: int,
) -> tuple[list[Table], list[str]]:
    """The rows, in the order the postings happened, with the ids the database would give."""
    rng = random.Random(f"traceport-bench:{seed}:rows")
    parts, suppliers = design.parts, design.suppliers
    documents: list[tuple[Any, ...]] = []
    supplier_lots: list[tuple[Any, ...]] = []
    internal_lots: list[tuple[Any, ...]] = []
    receipts: list[tuple[Any, ...]] = []
    work_orders: list[tuple[Any, ...]] = []
    inputs: list[tuple[Any, ...]] = []
    serials: list[tuple[Any, ...]] = []
    shipment_rows: list[tuple[Any, ...]] = []
    items: list[tuple[Any, ...]] = []
    nodes: list[tuple[Any, ...]] = []
    edges: list[tuple[Any, ...]] = []

    raw_internal: list[tuple[int, int]] = [(0, 0)] * len(raw_lots)  # (internal lot id, node)
    made_internal: list[tuple[int, int]] = [(0, 0)] * len(orders)
    serial_nodes = [0] * len(shipped_in)
    identifiers = [""] * len(raw_lots)
    per_supplier: dict[int, int] = {}

    events: list[tuple[float, int, int]] = [(lot.received, 0, g) for g, lot in enumerate(raw_lots)]
    events += [(o.t, 1, i) for i, o in enumerate(orders)]
    events += [(s[0], 2, i) for i, s in enumerate(shipments)]
    events.sort()

    def node(
        kind: str, ref: int, identifier: str, org: int | None, part: int | None, at: Any
    ) -> int:
        nodes.append((len(nodes) + 1, kind, ref, identifier, org, part, at))
        return len(nodes)

    def edge(
        source: int,
        target: int,
        kind: str,
        event: tuple[str, int],
        quantity: Decimal | None,
        unit: str | None,
        at: Any,
    ) -> None:
        ends = (nodes[source - 1][1], nodes[target - 1][1])
        edges.append((len(edges) + 1, source, target, *ends, kind, *event, quantity, unit, at))

    for t, what, index in events:
        at = timestamp(t)
        if what == 0:
            lot = raw_lots[index]
            part, supplier = parts[lot.part], suppliers[lot.supplier]
            org_id, part_id = ids.organizations[lot.supplier], ids.parts[lot.part]
            sequence = per_supplier[lot.supplier] = per_supplier.get(lot.supplier, 0) + 1
            year = at.year % 100
            lot_number = (
                f"{supplier.code}-{year}-{sequence:05d}",
                f"{supplier.code}{sequence:07d}",
                f"L{year}{sequence:06d}-{supplier.code}",
                f"{supplier.code}/{sequence:06d}",
            )[lot.supplier % 4]
            identifiers[index] = lot_number
            used = bool(lot.users)
            approved = used or rng.random() < 0.8
            if lot.consumed:
                quantity = (lot.consumed * Decimal(str(rng.uniform(1.0, 1.2)))).quantize(
                    Decimal(1), rounding="ROUND_CEILING"
                )
            else:
                quantity = Decimal(rng.randint(10, 500))
            submitted = at - dt.timedelta(days=3)
            document_id = len(documents) + 1
            digest = hashlib.sha256(f"{seed}:coa:{index}".encode()).hexdigest()
            documents.append(
                (
                    document_id,
                    org_id,
                    digest,
                    f"CoA-{lot_number.replace('/', '-')}.pdf",
                    "application/pdf",
                    40_000 + index % 90_000,
                    1,
                    None,
                    "client",
                    None,
                    f"{supplier.name} integration",
                    "api",
                    submitted,
                )
            )
            lot_id = len(supplier_lots) + 1
            supplier_lots.append(
                (
                    lot_id,
                    org_id,
                    part_id,
                    ids.specifications[lot.part],
                    lot_number,
                    quantity,
                    part.unit,
                    (submitted - dt.timedelta(days=20)).date(),
                    (submitted + dt.timedelta(days=700)).date(),
                    document_id,
                    "approved" if approved else "submitted",
                    "conforming",
                    1,
                    "client",
                    None,
                    submitted,
                    at - dt.timedelta(days=1) if approved else None,
                )
            )
            lot_node = node("supplier_lot", lot_id, lot_number, org_id, part_id, submitted)
            # As ReceiptService.post: GR-nnnnnn, internal lot IL-nnnnnn, receipt edge.
            receipt_id = len(receipts) + 1
            internal_id = len(internal_lots) + 1
            number = f"GR-{receipt_id:06d}"
            status = "released" if approved else "quarantine"
            internal_lots.append(
                (
                    internal_id,
                    f"IL-{number[3:]}",
                    part_id,
                    "material",
                    quantity,
                    part.unit,
                    status,
                    at,
                )
            )
            internal_node = node("internal_lot", internal_id, f"IL-{number[3:]}", None, part_id, at)
            receipts.append(
                (receipt_id, number, lot_id, internal_id, quantity, part.unit, "posted", at)
            )
            edge(
                lot_node, internal_node, "receipt", ("receipt", receipt_id), quantity, part.unit, at
            )
            raw_internal[index] = (internal_id, internal_node)
        elif what == 1:
            # As ProductionService.post: output lot and its node, the order, its inputs with a
            # consumption edge each, then the serials, their nodes and production edges.
            order = orders[index]
            part_id = ids.parts[order.part]
            order_id = len(work_orders) + 1
            output_id = len(internal_lots) + 1
            prefix = "FG" if order.level == 4 else ("C", "S", "A")[order.level - 1]
            lot_number = f"{prefix}L-{order_id:06d}"
            internal_lots.append(
                (
                    output_id,
                    lot_number,
                    part_id,
                    "finished",
                    Decimal(order.units),
                    "pcs",
                    "released",
                    at,
                )
            )
            output_node = node("internal_lot", output_id, lot_number, None, part_id, at)
            made_internal[index] = (output_id, output_node)
            work_orders.append((order_id, f"WO-{order_id:06d}", output_id, "posted", at))
            for (source_kind, source), quantity, unit in order.inputs:
                lot_id, lot_node = (
                    raw_internal[source] if source_kind == "raw" else made_internal[source]
                )
                inputs.append((len(inputs) + 1, order_id, lot_id, quantity, unit))
                edge(
                    lot_node,
                    output_node,
                    "consumption",
                    ("work_order", order_id),
                    quantity,
                    unit,
                    at,
                )
            if order.level == 4:
                first = len(serials)
                for s in range(order.first_serial, order.first_serial + order.units):
                    status = "shipped" if shipped_in[s] >= 0 else "in_stock"
                    serials.append((len(serials) + 1, f"SN-{s + 1:08d}", output_id, status, at))
                for offset in range(order.units):
                    serial_id = first + offset + 1
                    serial_nodes[order.first_serial + offset] = node(
                        "serial", serial_id, serials[serial_id - 1][1], None, part_id, at
                    )
                for offset in range(order.units):
                    target = serial_nodes[order.first_serial + offset]
                    edge(
                        output_node,
                        target,
                        "production",
                        ("work_order", order_id),
                        Decimal(1),
                        "pcs",
                        at,
                    )
        else:
            # As ShipmentService.ship: the shipment, its node, an item and an edge per serial.
            _t, first, count, consignee = shipments[index]
            shipment_id = len(shipment_rows) + 1
            number = f"SH-{shipment_id:07d}"
            shipment_rows.append(
                (
                    shipment_id,
                    number,
                    f"Bench Hospital {consignee + 1:04d}, Central Sterile Supply",
                    f"{consignee % 200 + 1} Harbour Road, Bench City {consignee % 97:02d}",
                    "shipped",
                    at,
                )
            )
            target = node("shipment", shipment_id, number, None, None, at)
            for s in range(first, first + count):
                items.append((len(items) + 1, shipment_id, s + 1))
                edge(serial_nodes[s], target, "shipment", ("shipment", shipment_id), None, None, at)

    assert all(serials[s][0] == s + 1 for s in range(0, len(serials), 997))
    tables = [
        Table("documents", DOCUMENTS, documents),
        Table("supplier_lots", SUPPLIER_LOTS, supplier_lots),
        Table("internal_lots", INTERNAL_LOTS, internal_lots),
        Table("receipts", RECEIPTS, receipts),
        Table("work_orders", WORK_ORDERS, work_orders),
        Table("work_order_inputs", WORK_ORDER_INPUTS, inputs),
        Table("serials", SERIALS, serials),
        Table("shipments", SHIPMENTS, shipment_rows),
        Table("shipment_items", SHIPMENT_ITEMS, items),
        Table("trace_nodes", TRACE_NODES, nodes),
        Table("trace_edges", TRACE_EDGES, edges),
    ]
    return tables, identifiers


def sample_serials(serials: int, count: int, seed: int) -> Iterator[str]:
    """``count`` serial numbers of a plant, drawn at random (with the seed), for traces."""
    rng = random.Random(f"traceport-bench:{seed}:sample")
    for _ in range(count):
        yield f"SN-{rng.randrange(serials) + 1:08d}"


@dataclass(frozen=True)
class CertificateIds:
    """Where the plant's certificate rows start: the ids after the rows already there."""

    document: int
    certificate: int
    certificate_part: int
    record_version: int


CERTIFICATES = (
    "id",
    "organization_id",
    "standard",
    "certificate_number",
    "issuer",
    "sites",
    "product_scope",
    "part_kinds",
    "valid_from",
    "valid_until",
    "document_id",
    "status",
    "ended_on",
    "version",
    "created_by_kind",
    "created_by_id",
    "created_at",
    "accepted_at",
)
CERTIFICATE_PARTS = ("id", "certificate_id", "part_id", "position")
RECORD_VERSIONS = (
    "id",
    "record_type",
    "record_id",
    "version",
    "status",
    "content",
    "content_sha256",
    "data_sha256",
    "prev_sha256",
    "action",
    "reason",
    "author_kind",
    "author_id",
    "author_name",
    "channel",
    "created_at",
)


def certificate_rows(design: PlantDesign, ids: MasterIds, first: CertificateIds) -> list[Table]:
    """Every supplier's accepted certificates, as a real supplier base has them:

    - an ISO 13485 certificate covering every material it sells us, valid over the plant's
      two years — except every tenth supplier, whose certificate lapsed at mid-period and
      was renewed five weeks later (receipts in between were not covered);
    - for the suppliers of sterilization, an ISO 11137 certificate naming those parts.

    Each with its document row and one record version (no stored file, no signatures: as
    the plant's other posted rows). ``bench.load`` judges the receipts against them."""
    documents: list[tuple[Any, ...]] = []
    certificates: list[tuple[Any, ...]] = []
    parts: list[tuple[Any, ...]] = []
    versions: list[tuple[Any, ...]] = []
    sterilized: dict[int, list[int]] = {}
    for index, part in enumerate(design.parts):
        if part.role == "sterilization":
            for supplier in part.suppliers:
                sterilized.setdefault(supplier, []).append(index)
    accepted_at = START - dt.timedelta(days=60)
    ever_from = (START - dt.timedelta(days=365)).date()
    ever_until = (START + SPAN + dt.timedelta(days=365)).date()

    def add(
        supplier_index: int,
        standard: str,
        number: str,
        valid: tuple[dt.date, dt.date],
        kinds: str,
        part_indexes: list[int],
    ) -> None:
        supplier = design.suppliers[supplier_index]
        org_id = ids.organizations[supplier_index]
        document_id = first.document + len(documents)
        certificate_id = first.certificate + len(certificates)
        documents.append(
            (
                document_id,
                org_id,
                hashlib.sha256(f"{design.seed}:certificate:{number}".encode()).hexdigest(),
                f"{number}.pdf",
                "application/pdf",
                120_000,
                2,
                None,
                "client",
                None,
                f"{supplier.name} integration",
                "api",
                accepted_at,
            )
        )
        sites = f"{supplier.name}, {supplier.address}"
        scope = f"Design and manufacture of {kinds or 'sterilization services'}"
        certificates.append(
            (
                certificate_id,
                org_id,
                standard,
                number,
                "Bench Notified Body 0999",
                sites,
                scope,
                kinds,
                valid[0],
                valid[1],
                document_id,
                "accepted",
                None,
                1,
                "client",
                None,
                accepted_at,
                accepted_at,
            )
        )
        for position, part_index in enumerate(part_indexes):
            parts.append(
                (
                    first.certificate_part + len(parts),
                    certificate_id,
                    ids.parts[part_index],
                    position,
                )
            )
        data = {
            "standard": standard,
            "certificate_number": number,
            "sites": sites,
            "part_kinds": kinds,
            "part_numbers": [design.parts[i].number for i in part_indexes],
            "valid_from": valid[0].isoformat(),
            "valid_until": valid[1].isoformat(),
            "document_id": document_id,
        }
        content = {
            "record_type": "supplier_certificate",
            "record_id": certificate_id,
            "version": 1,
            "status": "accepted",
            "data": data,
        }
        versions.append(
            (
                first.record_version + len(versions),
                "supplier_certificate",
                certificate_id,
                1,
                "accepted",
                data,
                canonical_hash(content),
                canonical_hash(data),
                None,
                "bench_load",
                None,
                "system",
                None,
                "benchmark plant",
                "cli",
                accepted_at,
            )
        )

    lapse = timestamp(0.5).date()
    renewal = lapse + dt.timedelta(days=35)
    for index in range(len(design.suppliers)):
        number = f"BN-13485-{index:04d}"
        if index % 10 == 3:
            add(index, "ISO 13485:2016", number, (ever_from, lapse), "material", [])
            add(index, "ISO 13485:2016", number + "-R", (renewal, ever_until), "material", [])
        else:
            add(index, "ISO 13485:2016", number, (ever_from, ever_until), "material", [])
        if index in sterilized:
            number = f"BN-11137-{index:04d}"
            add(index, "ISO 11137-1:2006", number, (ever_from, ever_until), "", sterilized[index])
    return [
        Table("documents", DOCUMENTS, documents),
        Table("supplier_certificates", CERTIFICATES, certificates),
        Table("supplier_certificate_parts", CERTIFICATE_PARTS, parts),
        Table("record_versions", RECORD_VERSIONS, versions),
    ]
