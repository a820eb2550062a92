"""Checking captured documents without a database: GS1's schema with formats, CBV vocabulary,
namespaces, identifiers and check digits, size limits (EPC-02, A11-02). Every shared test
document is read: the valid ones must pass, the invalid ones must fail at the named place."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tests.epcis.conftest import OPENEPCIS, document, object_event, sgtin
from trace_core.epcis.document import parse
from trace_core.epcis.errors import EpcisRejected
from trace_core.epcis.schema import SCHEMA_SHA256, schema_bytes
from trace_core.errors import TooLarge

BIG = 10**8

#: Labelled valid upstream, but GS1's own rules refuse them; Traceport follows GS1 (see
#: docs/EPCIS.md, "Shared test documents that are refused").
FAULTY_VALID = {
    "Combination_of_different_event.json": (
        "/epcisBody/eventList/0/epcList/0",
        "check digit is 1, expected 6",
    ),
    "SensorData_with_combined_events.json": (
        "/epcisBody/eventList/7/sensorElementList/0/sensorReport/1/type",
        "'Molar_concentration' is not a GS1 measurement type",
    ),
    "TransactionEvent_with_userExtensions.json": (
        "/epcisBody/eventList/0/sensorElementList/0/sensorReport/0/type",
        "'EffectiveDoseRate' is not a GS1 measurement type",
    ),
}
#: Every invalid shared document: where it is refused and (part of) why.
INVALID = {
    "Combination_of_events_with_missing_mandatory_fields.json": (
        "/epcisBody/eventList/0",
        "'action' is required",
    ),
    "Combination_of_multiple_invalid_fields.json": (
        "/epcisBody/eventList/0/bizStep",
        "'transforming' is not a CBV 2.0 business step",
    ),
    "Combination_of_non_standard_bizStep_and_disposition.json": (
        "/epcisBody/eventList/0/bizStep",
        "'transforming' is not a CBV 2.0 business step",
    ),
    "EPCISDocument_without_context.json": ("", "'@context' is required"),
    "ObjectEvent_with_ilmd_field_without_namespace.json": (
        "/epcisBody/eventList/0/ilmd/materialType",
        "needs a namespace",
    ),
    "ObjectEvent_with_invalid_action.json": (
        "/epcisBody/eventList/0/action",
        "'CREATE' is not allowed here; allowed: OBSERVE, ADD, DELETE",
    ),
    "ObjectEvent_with_invalid_certificationInfo.json": (
        "/epcisBody/eventList/0/certificationInfo/0",
        "is not of type string",
    ),
    "ObjectEvent_with_invalid_eventTime_format.json": (
        "/epcisBody/eventList/0/eventTime",
        "'22-07-2026' is not a valid date-time",
    ),
    "ObjectEvent_with_non_standard_bizStep.json": (
        "/epcisBody/eventList/0/bizStep",
        "'transforming' is not a CBV 2.0 business step",
    ),
    "ObjectEvent_with_non_standard_bizStep_in_second_event.json": (
        "/epcisBody/eventList/1/bizStep",
        "'transforming' is not a CBV 2.0 business step",
    ),
    "ObjectEvent_with_non_standard_disposition.json": (
        "/epcisBody/eventList/0/disposition",
        "'in_transport' is not a CBV 2.0 disposition",
    ),
    "ObjectEvent_with_quantity_as_text.json": (
        "/epcisBody/eventList/0/quantityList/0/quantity",
        "'twenty' is not of type number",
    ),
    "ObjectEvent_with_unknown_field_in_quantityList.json": (
        "/epcisBody/eventList/0/quantityList/0/weight",
        "'weight' is not allowed here; allowed: epcClass, quantity, uom",
    ),
    "ObjectEvent_without_action_and_eventTime.json": (
        "/epcisBody/eventList/0",
        "'eventTime' is required",
    ),
    "ObjectEvent_without_identifier_list.json": (
        "/epcisBody/eventList/0",
        "needs one of: epcList, quantityList, sensorElementList (with readPoint)",
    ),
}
VALID = sorted(
    p.name
    for folder in ("Documents", "Events")
    for p in (OPENEPCIS / folder).glob("*.json")
    if p.name not in FAULTY_VALID
)


def _path(name: str) -> Any:
    for folder in ("Documents", "Events", "Invalid"):
        if (OPENEPCIS / folder / name).exists():
            return OPENEPCIS / folder / name
    raise AssertionError(name)


def rejection(raw: bytes | dict[str, Any]) -> tuple[str, str]:
    data = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    with pytest.raises(EpcisRejected) as refused:
        parse(data, BIG, 10_000)
    return refused.value.fault.pointer, refused.value.fault.message


@pytest.mark.req("EPC-01")
@pytest.mark.req("EPC-02")
def test_the_vendored_schema_is_gs1s_published_file() -> None:
    assert hashlib.sha256(schema_bytes()).hexdigest() == SCHEMA_SHA256


@pytest.mark.req("EPC-02")
@pytest.mark.parametrize("name", VALID)
def test_every_valid_shared_document_passes(name: str) -> None:
    checked = parse(_path(name).read_bytes(), BIG, 10_000)
    assert checked.events


@pytest.mark.req("EPC-02")
@pytest.mark.req("A11-02")
@pytest.mark.parametrize("name", sorted(INVALID))
def test_every_invalid_shared_document_is_refused_where_it_is_wrong(name: str) -> None:
    pointer, message = rejection(_path(name).read_bytes())
    assert pointer == INVALID[name][0]
    assert INVALID[name][1] in message


def test_every_invalid_shared_document_is_listed() -> None:
    assert sorted(p.name for p in (OPENEPCIS / "Invalid").glob("*.json")) == sorted(INVALID)
    assert len(VALID) + len(FAULTY_VALID) == 43


@pytest.mark.req("A11-02")
@pytest.mark.parametrize("name", sorted(FAULTY_VALID))
def test_shared_documents_breaking_gs1_rules_are_refused_too(name: str) -> None:
    """Labelled valid upstream (whose validator checks neither check digits nor the ``uri``
    format); GS1's schema with formats and the GS1 check digit refuse them."""
    pointer, message = rejection(_path(name).read_bytes())
    assert pointer == FAULTY_VALID[name][0]
    assert FAULTY_VALID[name][1] in message


EPC = sgtin("SN-DEMO-0001")


@pytest.mark.req("EPC-02")
@pytest.mark.req("A11-02")
@pytest.mark.parametrize(
    ("body", "pointer", "words"),
    [
        (b"{not json", "", "not valid JSON"),
        (b'{"type": "EPCISDocument", "type": "x"}', "", "appears twice"),
        (b'{"a": NaN}', "", "NaN is not a JSON number"),
        (b"[" * 100_000 + b"]" * 100_000, "", "nested too deeply"),
        (b'{"a":' * 70 + b"1" + b"}" * 70, "", "nested more than 64 levels deep"),
        (b'{"type": "EPCISDocument", "epcisBody": []}', "/epcisBody", "is not of type"),
        (b"\xff\xfe", "", "not UTF-8"),
        (b"[]", "", "must be a JSON object"),
        (
            {**document(object_event([EPC])), "type": "EPCISQueryDocument"},
            "/type",
            "EPCISQueryDocument",
        ),
        (
            document(object_event([EPC]), context=["https://example.com/ctx.jsonld"]),
            "/@context",
            "EPCIS 2.0 context",
        ),
        (
            document(object_event([EPC], **{"acme:batch": "1"})),
            "/epcisBody/eventList/0/acme:batch",
            "prefix 'acme:' of field 'acme:batch' is not declared",
        ),
        (
            document(object_event([EPC], bizStep="https://ref.gs1.org/cbv/BizStep-brewing")),
            "/epcisBody/eventList/0/bizStep",
            "'brewing' is not a standard CBV 2.0 business step",
        ),
        (
            document(object_event([EPC], bizStep="https://ref.gs1.org/cbv/Disp-in_transit")),
            "/epcisBody/eventList/0/bizStep",
            "is a CBV disposition, not a business step",
        ),
        (
            document(object_event([EPC], bizStep="urn:epcglobal:cbv:bizstep:shipping")),
            "/epcisBody/eventList/0/bizStep",
            "write 'shipping' or 'https://ref.gs1.org/cbv/BizStep-shipping'",
        ),
        (
            document(object_event([EPC], bizStep="acme:steps/brewing")),
            "/epcisBody/eventList/0/bizStep",
            "prefix 'acme:' is not declared in @context",
        ),
        (
            document(
                object_event(
                    [EPC],
                    bizTransactionList=[{"type": "invoice", "bizTransaction": "urn:x:1"}],
                )
            ),
            "/epcisBody/eventList/0/bizTransactionList/0/type",
            "not a CBV 2.0 business transaction type",
        ),
        (
            document(object_event([EPC], sourceList=[{"type": "seller", "source": "urn:x:1"}])),
            "/epcisBody/eventList/0/sourceList/0/type",
            "not a CBV 2.0 source/destination type",
        ),
        (
            document(object_event(["https://id.gs1.org/01/00614141000013/21/1"])),
            "/epcisBody/eventList/0/epcList/0",
            "check digit is 3, expected 2",
        ),
        (
            document(object_event(["urn:epc:id:sgtin:0614141.0000001.5"])),
            "/epcisBody/eventList/0/epcList/0",
            "must have 13 digits together, got 14",
        ),
        (
            document(object_event(["urn:epc:class:lgtin:0614141.000001.L1"])),
            "/epcisBody/eventList/0/epcList/0",
            "names a class; epcList takes individual objects",
        ),
        (
            document(
                {
                    **object_event([]),
                    "quantityList": [{"epcClass": EPC, "quantity": 1}],
                }
            ),
            "/epcisBody/eventList/0/quantityList/0/epcClass",
            "names one object; epcClass takes a class",
        ),
        (
            document(object_event([EPC], eventTime="2016-12-31T23:59:60Z")),
            "/epcisBody/eventList/0/eventTime",
            "'2016-12-31T23:59:60Z' is not a valid date-time",
        ),
        (
            document(object_event([EPC], readPoint={"id": "urn:epc:id:sgln:0614141.0734.1"})),
            "/epcisBody/eventList/0/readPoint/id",
            "must have 12 digits together, got 11",
        ),
    ],
)
def test_faults_are_named_by_their_json_pointer(
    body: bytes | dict[str, Any], pointer: str, words: str
) -> None:
    found_pointer, message = rejection(body)
    assert found_pointer == pointer
    assert words in message


def test_the_first_fault_in_document_order_is_named() -> None:
    body = document(
        object_event([EPC], bizStep="brewing"),
        object_event(["urn:epc:id:sgtin:1.2.3"]),
    )
    assert rejection(body)[0] == "/epcisBody/eventList/0/bizStep"


def test_a_bare_event_is_read_as_a_document_of_one() -> None:
    event = {
        **object_event([EPC], bizStep="shipping"),
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
    }
    checked = parse(json.dumps(event).encode(), BIG, 10)
    assert [e for _, e in checked.events] == [event]
    assert rejection({**event, "bizStep": "brewing"})[0] == "/bizStep"


@pytest.mark.req("A11-02")
def test_size_limits_refuse_before_reading() -> None:
    body = json.dumps(document(*[object_event([EPC])] * 3)).encode()
    with pytest.raises(TooLarge, match="limit is 100 bytes"):
        parse(body, 100, 10)
    with pytest.raises(TooLarge, match="holds 3 events; the limit is 2"):
        parse(body, BIG, 2)
