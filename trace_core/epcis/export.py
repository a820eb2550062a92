"""Our own postings as EPCIS 2.0 events (EPC-01), so a query answers for everything the trace
core knows:

- a goods receipt is a TransformationEvent with business step ``receiving``: the supplier's
  lot (input) becomes one of our internal lots (output), with the receipt as ``recadv``
  business transaction and the supplier as owning-party source. (An ObjectEvent, the usual
  form of receiving, could not say which internal lot the supplier lot became.)
- a work order is a TransformationEvent (``commissioning``): consumed lots in, the finished
  lot and its serial numbers out, the order as ``prodorder``;
- a shipment is an ObjectEvent (``shipping``, ``in_transit``) of its shipping units (SSCC) and
  serial numbers with the consignee as owning-party destination and the shipment as ``desadv``;
- an outsourced process run is a TransformationEvent: our lots sent out in, the lots that came
  back out (a lot returned as itself is both input and output), the contractor as possessing-
  party source, the run as business transaction, and its numeric parameters and results with a
  GS1 measurement type as ``sensorElementList`` (the others under Traceport's own measurement
  URIs). CBV 2.0 has no business step for sterilizing, coating or cleaning, and ``other`` would
  say nothing, so the business step is Traceport's own vocabulary URI
  (``urn:traceport:bizstep:sterilizing``), which CBV allows for steps it does not define.
- a packing or unpacking is an AggregationEvent (``ADD``/``packing``, ``DELETE``/``unpacking``):
  the unit's SSCC as parent, the serials and cases put in or taken out as children.

Lots and serials of a part with a GTIN are named by GS1 Digital Link (LGTIN, SGTIN); anything
else by Traceport's own URNs (``urn:traceport:lot:IL-RES-0001``), which a capture reads back
to the same genealogy nodes. Units without a UN/ECE Recommendation 20 code (``load``) are
exported without ``uom``; ``pcs`` is a count and has none either.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from trace_core.epcis.identifiers import CANONICAL_BASE, private_uri
from trace_core.inventory.models import InternalLot, Serial
from trace_core.lots.models import SupplierLot
from trace_core.packing.models import PackingEvent
from trace_core.processes.models import ProcessRun, ProcessRunValue
from trace_core.production.models import WorkOrder
from trace_core.receipts.models import Receipt
from trace_core.shipments.models import Shipment

EPCIS_CONTEXT_URL = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
#: Our units → UN/ECE Recommendation 20 codes (the EPCIS ``uom``); a count has none.
UOM = {"kg": "KGM", "g": "GRM", "mg": "MGM", "t": "TNE", "l": "LTR", "ml": "MLT", "m": "MTR"}
UOM.update({"m2": "MTK", "m3": "MTQ"})
COUNTS = frozenset({"pcs", "pc", "ea", "each", "unit", "units"})


def event_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dl(gtin: str, ai: str, value: str) -> str:
    return f"{CANONICAL_BASE}/01/{gtin}/{ai}/{quote(value, safe='')}"


def internal_lot_uri(lot: InternalLot) -> str:
    gtin = lot.part.gtin
    return _dl(gtin, "10", lot.lot_number) if gtin else private_uri("lot", lot.lot_number)


def supplier_lot_uri(lot: SupplierLot) -> str:
    # A supplier's lot number is unique only per supplier and part, hence both in the URN.
    if lot.part.gtin:
        return _dl(lot.part.gtin, "10", lot.lot_number)
    return private_uri("supplier-lot", str(lot.organization_id), lot.part.number, lot.lot_number)


def serial_uri(serial: Serial) -> str:
    gtin = serial.lot.part.gtin
    return _dl(gtin, "21", serial.serial) if gtin else private_uri("serial", serial.serial)


def quantity(epc_class: str, amount: Decimal, unit: str) -> dict[str, Any]:
    number: int | float = int(amount) if amount == amount.to_integral_value() else float(amount)
    element: dict[str, Any] = {"epcClass": epc_class, "quantity": number}
    code = UOM.get(unit.lower())
    if code:
        element["uom"] = code
    return element


def _base(event_type: str, moment: dt.datetime) -> dict[str, Any]:
    return {
        "type": event_type,
        "eventTime": event_time(moment),
        "eventTimeZoneOffset": "+00:00",
    }


def receipt_event(receipt: Receipt) -> dict[str, Any]:
    lot = receipt.supplier_lot
    event = _base("TransformationEvent", receipt.received_at)
    event["inputQuantityList"] = [quantity(supplier_lot_uri(lot), receipt.quantity, receipt.unit)]
    event["outputQuantityList"] = [
        quantity(internal_lot_uri(receipt.internal_lot), receipt.quantity, receipt.unit)
    ]
    event["bizStep"] = "receiving"
    event["bizTransactionList"] = [
        {"type": "recadv", "bizTransaction": private_uri("receipt", receipt.number)}
    ]
    event["sourceList"] = [
        {"type": "owning_party", "source": private_uri("party", str(lot.organization_id))}
    ]
    return event


def work_order_event(order: WorkOrder, serials: list[Serial]) -> dict[str, Any]:
    event = _base("TransformationEvent", order.posted_at)
    event["inputQuantityList"] = [
        quantity(internal_lot_uri(item.lot), item.quantity, item.unit) for item in order.inputs
    ]
    output = order.output_lot
    event["outputQuantityList"] = [quantity(internal_lot_uri(output), output.quantity, output.unit)]
    if serials:
        event["outputEPCList"] = [serial_uri(s) for s in serials]
    event["bizStep"] = "commissioning"
    event["bizTransactionList"] = [
        {"type": "prodorder", "bizTransaction": private_uri("work-order", order.number)}
    ]
    return event


def sscc_uri(sscc: str) -> str:
    return f"{CANONICAL_BASE}/00/{sscc}"


def packing_event(packing: PackingEvent, unit_sscc: str, serials: list[Serial]) -> dict[str, Any]:
    """An AggregationEvent of one packing (``ADD``) or unpacking (``DELETE``) posting."""
    event = _base("AggregationEvent", packing.posted_at)
    event["parentID"] = sscc_uri(unit_sscc)
    event["childEPCs"] = [serial_uri(s) for s in serials] + [sscc_uri(u) for u in packing.units]
    event["action"] = packing.action
    event["bizStep"] = "packing" if packing.action == "ADD" else "unpacking"
    return event


def shipment_event(shipment: Shipment, units: list[str] | None = None) -> dict[str, Any]:
    event = _base("ObjectEvent", shipment.shipped_at)
    event["epcList"] = [sscc_uri(sscc) for sscc in units or []] + [
        serial_uri(item.serial) for item in shipment.items
    ]
    event["action"] = "OBSERVE"
    event["bizStep"] = "shipping"
    event["disposition"] = "in_transit"
    event["bizTransactionList"] = [
        {"type": "desadv", "bizTransaction": private_uri("shipment", shipment.number)}
    ]
    event["destinationList"] = [
        {
            "type": "owning_party",
            "destination": private_uri("consignee", shipment.consignee_name),
        }
    ]
    return event


#: Process kind → our own business step URI (CBV 2.0 defines none of these).
PROCESS_BIZ_STEPS = {
    "sterilization": "sterilizing",
    "coating": "coating",
    "cleaning": "cleaning",
    "passivation": "passivating",
    "heat_treatment": "heat_treating",
}
#: Our units → (GS1 measurement type, UN/ECE Rec. 20 code, factor). kGy is reported in gray.
MEASUREMENTS: dict[str, tuple[str, str, Decimal]] = {
    "kgy": ("AbsorbedDose", "A95", Decimal(1000)),
    "gy": ("AbsorbedDose", "A95", Decimal(1)),
    "°c": ("Temperature", "CEL", Decimal(1)),
    "degc": ("Temperature", "CEL", Decimal(1)),
    "c": ("Temperature", "CEL", Decimal(1)),
    "min": ("Time", "MIN", Decimal(1)),
    "h": ("Time", "HUR", Decimal(1)),
    "s": ("Time", "SEC", Decimal(1)),
    "kpa": ("Pressure", "KPA", Decimal(1)),
    "mbar": ("Pressure", "MBR", Decimal(1)),
    "%rh": ("RelativeHumidity", "P1", Decimal(1)),
}


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _sensor_report(value: ProcessRunValue) -> dict[str, Any]:
    mapped = MEASUREMENTS.get((value.unit or "").lower())
    if mapped and value.value_numeric is not None:
        kind, uom, factor = mapped
        return {"type": kind, "value": _number(value.value_numeric * factor), "uom": uom}
    report: dict[str, Any] = {"type": private_uri("measurement", value.name)}
    if value.value_numeric is not None:
        report["value"] = _number(value.value_numeric)
    else:
        report["stringValue"] = value.value_text
    return report


def process_run_event(run: ProcessRun) -> dict[str, Any]:
    assert run.posted_at is not None
    event = _base("TransformationEvent", run.posted_at)
    event["inputQuantityList"] = [
        quantity(internal_lot_uri(lot.lot), lot.quantity, lot.unit)
        for lot in run.inputs
        if lot.lot is not None
    ]
    event["outputQuantityList"] = [
        quantity(internal_lot_uri(lot.lot), lot.quantity, lot.unit)
        for lot in run.outputs
        if lot.lot is not None
    ]
    event["bizStep"] = private_uri("bizstep", PROCESS_BIZ_STEPS[run.process_kind])
    event["bizTransactionList"] = [
        {"bizTransaction": private_uri("process-run", str(run.organization_id), run.run_number)}
    ]
    event["sourceList"] = [
        {"type": "possessing_party", "source": private_uri("party", str(run.organization_id))}
    ]
    start = dt.datetime.combine(run.started_on, dt.time(), dt.UTC)
    end = dt.datetime.combine(run.ended_on, dt.time(23, 59, 59), dt.UTC)
    event["sensorElementList"] = [
        {
            "sensorMetadata": {"startTime": event_time(start), "endTime": event_time(end)},
            "sensorReport": [_sensor_report(v) for v in run.values],
        }
    ]
    return event
