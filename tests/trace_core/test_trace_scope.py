"""The scope of a trace (``TraceService.scope``): every lot and shipment reached, the serials
bundled per lot, computed by one SQL statement — and equal, on SQLite and PostgreSQL, to the
same scope derived in memory from the full trace (``scope_of``). Bundles open a page at a time
(``TraceService.bundle``)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import edges_with_wrong_end_kinds
from tests.release_helpers import IMPLANT_CONSIGNEE, UDI_DATES, release_finished_lot
from trace_core.certificates.evidence import certificate_evidence
from trace_core.errors import NotFound, PermissionDenied, ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.service import actor_for_user
from trace_core.inventory.models import Serial
from trace_core.production.service import ConsumedLot, WorkOrderInputData
from trace_core.services import Runtime, provide_services
from trace_core.shipments.service import ShipmentInput
from trace_core.trace.models import TraceNode
from trace_core.trace.scope import TraceScope, scope_csv, scope_of
from trace_core.trace.statements import evidence_statement

pytestmark = pytest.mark.req("QMS-11")


async def user(runtime: Runtime, email: str) -> Actor:
    async with provide_services(runtime, Actor.system()) as s:
        return actor_for_user(await s.identity.user_by_email(email), "ui")


def document(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


async def diamond(runtime: Runtime) -> dict[str, Any]:
    """On top of the demo genealogy: a second finished lot made from the resin lot, and a
    shipment carrying serials of both finished lots (a diamond, and a shipment two lots reach)."""
    ops = await user(runtime, "ops@traceport.example")
    async with provide_services(runtime, ops) as s:
        in_stock = list(
            await s.session.scalars(
                select(Serial.serial)
                .where(Serial.serial.like("SN-DEMO-%"), Serial.status == "in_stock")
                .order_by(Serial.serial)
            )
        )
        await s.production.post(
            ops,
            WorkOrderInputData(
                "WO-SCOPE-1",
                "FG-1000",
                "FG-SCOPE-1",
                [ConsumedLot("IL-RES-0001", "0.25")],
                ["SN-SCOPE-1", "SN-SCOPE-2", "SN-SCOPE-3"],
                **UDI_DATES,
            ),
        )
    await release_finished_lot(runtime, "FG-SCOPE-1")
    async with provide_services(runtime, ops) as s:
        await s.shipments.ship(
            ops,
            ShipmentInput(
                "SH-SCOPE-1",
                "Clinic Two",
                "2 Scope Street, Scopetown",
                ["SN-SCOPE-1", in_stock[0]],
                **IMPLANT_CONSIGNEE,
            ),
        )
    return {"demo_in_stock": in_stock}


IDENTIFIERS = (
    "AP-24-0815",
    "SP-24-0117",
    "IL-RES-0001",
    "FG-LOT-0001",
    "FG-SCOPE-1",
    "SN-SCOPE-1",
    "SH-SCOPE-1",
)


async def test_scope_in_sql_equals_the_scope_of_the_full_trace(runtime: Runtime) -> None:
    await diamond(runtime)
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        for identifier in IDENTIFIERS:
            for direction in ("forward", "backward"):
                full = await (s.trace.forward if direction == "forward" else s.trace.backward)(
                    qa, identifier
                )
                scope = await s.trace.scope(qa, identifier, direction)  # type: ignore[arg-type]
                assert document(scope.as_dict()) == document(scope_of(full).as_dict()), (
                    identifier,
                    direction,
                )
                assert sum(scope.counts.values()) == len(full.nodes)
    # The walks read kinds from the edges: every posting of the demo and above copied them.
    assert await edges_with_wrong_end_kinds(runtime) == []


async def test_forward_scope_of_the_resin_lot_is_exactly_what_it_reached(
    runtime: Runtime,
) -> None:
    setup = await diamond(runtime)
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        scope = await s.trace.scope(qa, "AP-24-0815")
    assert scope.counts == {
        "supplier_lot": 1,
        "internal_lot": 3,
        "serial": 13,
        "shipment": 3,
        "shipping_unit": 2,  # the demo's case on a pallet, shipped on SH-0002
    }
    # Serials are bundled, not listed: only lots, shipments and the root are nodes.
    listed = {(n.kind, n.identifier) for n in scope.nodes.values()}
    assert listed == {
        ("supplier_lot", "AP-24-0815"),
        ("internal_lot", "IL-RES-0001"),
        ("internal_lot", "FG-LOT-0001"),
        ("internal_lot", "FG-SCOPE-1"),
        ("shipment", "SH-0001"),
        ("shipment", "SH-0002"),
        ("shipment", "SH-SCOPE-1"),
        ("shipping_unit", "006141410000000012"),
        ("shipping_unit", "006141410000000029"),
    }
    lots = {lot["lot_number"]: lot for lot in scope.lots()}
    assert set(lots) == {"IL-RES-0001", "FG-LOT-0001", "FG-SCOPE-1"}
    # How much of the traced material went into each lot, from the postings' quantities.
    assert lots["FG-SCOPE-1"]["from_scope"] == {"kg": Decimal("0.25")}
    assert lots["FG-SCOPE-1"]["serials"] == 3
    assert lots["FG-LOT-0001"]["serials"] == 10
    assert lots["IL-RES-0001"]["serials"] == 0
    assert [(c["shipment"], c["name"], c["address"]) for c in scope.consignees()] == [
        ("SH-SCOPE-1", "Clinic Two", "2 Scope Street, Scopetown"),
        *(
            (
                number,
                "St. Mary's Hospital, Central Sterile Supply",
                "12 Harbour Road, Cork T12 XY34, Ireland",
            )
            for number in ("SH-0001", "SH-0002")
        ),
    ]
    # Case on pallet on shipment: links between listed nodes.
    named = {n.id: n.identifier for n in scope.nodes.values()}
    assert {(named[x.source], named[x.target], x.kind) for x in scope.links} >= {
        ("006141410000000012", "006141410000000029", "packing"),
        ("006141410000000029", "SH-0002", "shipment"),
    }
    by_lot = {scope.nodes[b.node].identifier: (b.kind, b.serials) for b in scope.bundles}
    assert by_lot == {"FG-LOT-0001": ("production", 10), "FG-SCOPE-1": ("production", 3)}
    # Nodes reached only through bundled serials start trees of their own, after the root:
    # the shipments that carried them, and the case on its pallet on its shipment.
    tree = scope.tree()
    assert [named[e["node"]] for e in tree if not e.get("through_serials")] == ["AP-24-0815"]
    through = {named[e["node"]]: e for e in tree if e.get("through_serials")}
    assert set(through) == {"SH-0001", "SH-SCOPE-1", "006141410000000012"}
    (pallet,) = through["006141410000000012"]["children"]
    assert named[pallet["node"]] == "006141410000000029"
    assert [named[c["node"]] for c in pallet["children"]] == ["SH-0002"]
    # The document: the tree shows lots and bundles; every node in it is listed.
    body = scope.as_dict()
    assert body["serial_bundles"] and body["lots"] and body["consignees"]
    assert "SN-SCOPE-1" not in document(body)
    assert setup["demo_in_stock"][0] not in document(body)


async def test_a_serial_root_is_listed_and_its_shipment_linked(runtime: Runtime) -> None:
    await diamond(runtime)
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        scope = await s.trace.scope(qa, "SN-SCOPE-1")
    assert {(n.kind, n.identifier) for n in scope.nodes.values()} == {
        ("serial", "SN-SCOPE-1"),
        ("shipment", "SH-SCOPE-1"),
    }
    assert [(link.kind, scope.nodes[link.target].identifier) for link in scope.links] == [
        ("shipment", "SH-SCOPE-1")
    ]
    assert scope.bundles == []


async def test_scope_csv_lists_lots_and_consignees_and_defuses_formulas(
    runtime: Runtime,
) -> None:
    await diamond(runtime)
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        scope = await s.trace.scope(qa, "AP-24-0815")
    lots = scope_csv(scope, "lots").splitlines()
    assert lots[0].split(",")[:3] == ["lot", "part", "part_name"]
    assert any(line.startswith("FG-SCOPE-1,FG-1000,") and "0.25 kg" in line for line in lots)
    consignees = scope_csv(scope, "consignees").splitlines()
    assert len(consignees) == 4 and consignees[1].startswith("SH-SCOPE-1,Clinic Two,")
    hostile = TraceScope(
        "x",
        "forward",
        [1],
        {"shipment": 1},
        {},
        [],
    )
    from trace_core.trace.service import NodeView

    hostile.nodes[1] = NodeView(
        1,
        "shipment",
        "=HYPERLINK(1)",
        {"consignee_name": "@evil", "consignee_address": "+1", "shipped_at": None},
    )
    assert scope_csv(hostile, "consignees").splitlines()[1] == "'=HYPERLINK(1),'@evil,'+1,"
    with pytest.raises(ValueError, match="no list 'serials'"):
        scope_csv(scope, "serials")


async def test_a_supplier_scope_is_its_own_lot_and_our_receipt_only(runtime: Runtime) -> None:
    await diamond(runtime)
    anna = await user(runtime, "anna@acme-polymers.example")
    async with provide_services(runtime, anna) as s:
        scope = await s.trace.scope(anna, "AP-24-0815")
        with pytest.raises(NotFound):
            await s.trace.scope(anna, "FG-LOT-0001")
        with pytest.raises(NotFound):
            await s.trace.scope(anna, "SP-24-0117")  # another supplier's lot
    assert {(n.kind, n.identifier) for n in scope.nodes.values()} == {
        ("supplier_lot", "AP-24-0815"),
        ("internal_lot", "IL-RES-0001"),
    }
    assert scope.counts == {"supplier_lot": 1, "internal_lot": 1}
    assert scope.bundles == [] and scope.consignees() == []


async def test_a_bundle_opens_a_page_at_a_time_with_what_follows_each_serial(
    runtime: Runtime,
) -> None:
    setup = await diamond(runtime)
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        lot = await s.session.scalar(
            select(TraceNode.id).where(
                TraceNode.kind == "internal_lot", TraceNode.identifier == "FG-LOT-0001"
            )
        )
        assert lot is not None
        first = await s.trace.bundle(qa, lot, "forward", 0, 4)
        rest = await s.trace.bundle(qa, lot, "forward", 4, 100)
    assert (first["total"], first["offset"], first["limit"]) == (10, 0, 4)
    serials = [row["serial"] for row in first["serials"] + rest["serials"]]
    assert serials == sorted(serials) and len(serials) == 10 and len(set(serials)) == 10
    assert all(row["via"] == "production" for row in first["serials"])
    shipped = setup["demo_in_stock"][0]
    row = next(r for r in first["serials"] + rest["serials"] if r["serial"] == shipped)
    assert [(n["kind"], n["identifier"], n["consignee_name"]) for n in row["next"]] == [
        ("shipment", "SH-SCOPE-1", "Clinic Two")
    ]
    assert row["status"] == "shipped"


async def test_bundle_refuses_bad_pages_unknown_nodes_and_suppliers(runtime: Runtime) -> None:
    qa = await user(runtime, "qa@traceport.example")
    anna = await user(runtime, "anna@acme-polymers.example")
    async with provide_services(runtime, qa) as s:
        lot = await s.session.scalar(
            select(TraceNode.id).where(TraceNode.identifier == "FG-LOT-0001")
        )
        assert lot is not None
        for offset, limit in ((0, 0), (0, 5000), (-1, 10)):
            with pytest.raises(ValidationFailed, match="1 to 1000 serials"):
                await s.trace.bundle(qa, lot, "forward", offset, limit)
        with pytest.raises(NotFound, match="No trace node 999999"):
            await s.trace.bundle(qa, 999_999, "forward")
    async with provide_services(runtime, anna) as s:
        with pytest.raises(PermissionDenied):
            await s.trace.bundle(anna, lot, "forward")


async def test_evidence_in_one_statement_equals_evidence_per_kind(runtime: Runtime) -> None:
    """Backward traces read nodes, edges and evidence in one statement; forward traces read
    evidence per kind. Both ways give the same nodes, edges and evidence, either direction."""
    await diamond(runtime)
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        for identifier in IDENTIFIERS:
            roots = [n.id for n in await s.trace.resolve(qa, identifier)]
            for direction in ("forward", "backward"):
                refs, edges, details, more, judged = await s.trace._walk_with_evidence(
                    evidence_statement(direction),
                    {"roots": roots},
                    direction,  # type: ignore[arg-type]
                )
                # Signatures are read only for the lots the statement says have some; every
                # other supplier lot has none (the per-kind path reads them for all).
                for node_id, ref in refs.items():
                    if ref.kind == "supplier_lot" and node_id not in more:
                        details[node_id]["signatures"] = []
                await s.trace._attach_signatures(
                    {i: r for i, r in refs.items() if i in more}, details
                )
                rest = {i: r for i, r in refs.items() if i not in details}
                details.update(await s.trace._describe(rest))  # shipping units
                walked, walked_edges = await s.trace._walk(roots, direction)
                assert refs == walked, (identifier, direction)
                assert sorted(edges) == sorted(walked_edges), (identifier, direction)
                assert document(details) == document(await s.trace._describe(walked))
                assert any(d.get("signatures") for d in details.values()) == (
                    any(r.kind == "supplier_lot" for r in refs.values())
                )
                # The certificate status on each receipt date: as the separate queries judge it.
                lots = {r.ref_id: i for i, r in refs.items() if r.kind == "supplier_lot"}
                separately = await certificate_evidence(s.session, lots)
                assert document(judged) == document(
                    {lots[lot_id]: receipts for lot_id, receipts in separately.items()}
                ), (identifier, direction)


async def test_backward_seeded_by_the_identifier_equals_backward_from_resolved_roots(
    runtime: Runtime,
) -> None:
    """Staff's backward traces seed the walk with the identifier typed (no round trip to
    resolve it); the answer is the one from the resolved roots, and a scanned code that is
    no identifier still goes through ``resolve``."""
    await diamond(runtime)
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        for identifier in (*IDENTIFIERS, "  SN-SCOPE-2 "):
            seeded = await s.trace.backward(qa, identifier)
            from_roots = await s.trace._trace(qa, identifier, "backward")
            assert document(seeded.as_dict()) == document(from_roots.as_dict()), identifier
        with pytest.raises(NotFound, match="Nothing is known by the identifier 'NOPE-7'"):
            await s.trace.backward(qa, "NOPE-7")
        with pytest.raises(ValidationFailed):
            await s.trace.backward(qa, "   ")
