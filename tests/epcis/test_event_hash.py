"""The CBV 2.0 event hash (EPC-04) against the reference implementation's examples: every
JSON-LD example's expected hashes, its pre-hash strings where upstream's file still matches its
hashes, and the "expected equal" set of spellings of one event."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.epcis.conftest import HASHES
from trace_core.epcis.event_hash import canonical_time, event_hash, ignored_fields, prehash
from trace_core.epcis.identifiers import hash_form, index_form
from trace_core.epcis.vocabulary import prefixes_in

pytestmark = pytest.mark.req("EPC-04")

EXAMPLES = sorted(p.stem for p in (HASHES / "examples").glob("*.hashes"))


def _events(name: str) -> tuple[list[dict[str, Any]], dict[str, str], frozenset[str]]:
    doc = json.loads((HASHES / "examples" / f"{name}.jsonld").read_text(encoding="utf-8"))
    prefixes = prefixes_in(doc.get("@context"))
    body = doc["epcisBody"]
    holder = body.get("queryResults", doc)
    events = body.get("eventList") or holder.get("resultsBody", {}).get("eventList")
    return events, prefixes, ignored_fields(doc, prefixes) | ignored_fields(holder, prefixes)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def test_every_json_ld_example_is_checked() -> None:
    assert len(EXAMPLES) == 22


@pytest.mark.parametrize("name", EXAMPLES)
def test_hashes_equal_the_reference_implementations(name: str) -> None:
    events, prefixes, ignore = _events(name)
    expected = _lines(HASHES / "examples" / f"{name}.hashes")
    assert [event_hash(e, prefixes, ignore) for e in events] == expected


@pytest.mark.parametrize("name", EXAMPLES)
def test_pre_hash_strings_equal_the_reference_implementations(name: str) -> None:
    events, prefixes, ignore = _events(name)
    expected = _lines(HASHES / "examples" / f"{name}.prehashes")
    hashes = _lines(HASHES / "examples" / f"{name}.hashes")
    compared = 0
    for event, text, hashed in zip(events, expected, hashes, strict=False):
        # Some upstream .prehashes files are stale (their hash files were regenerated, they
        # were not): only lines that still hash to the expected value are evidence.
        if "sha-256;" + hashlib.sha256(text.encode()).hexdigest() in hashed:
            assert prehash(event, prefixes, ignore) == text
            compared += 1
    assert compared or not expected or name in STALE_PREHASHES


STALE_PREHASHES = {"epcisDocWithAllGS1Keys"}


def test_different_spellings_of_one_event_hash_alike() -> None:
    doc = json.loads((HASHES / "expected_equal" / "ReferenceEventHashAlgorithm.json").read_text())
    prefixes = prefixes_in(doc["@context"])
    hashes = {event_hash(e, prefixes) for e in doc["epcisBody"]["eventList"]}
    assert len(doc["epcisBody"]["eventList"]) > 1
    assert len(hashes) == 1


def test_ignored_fields_are_left_out_and_nothing_else() -> None:
    events, prefixes, ignore = _events("epcisDocHavingEventWithIgnoreFields")
    assert event_hash(events[0], prefixes, ignore) == event_hash(events[1], prefixes, ignore)
    assert event_hash(events[0], prefixes) != event_hash(events[1], prefixes)


def test_an_error_declaration_shares_its_events_hash() -> None:
    event = {
        "type": "ObjectEvent",
        "eventTime": "2026-01-01T00:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sgtin:0614141.000001.1"],
        "action": "OBSERVE",
    }
    declared = {**event, "errorDeclaration": {"declarationTime": "2026-01-02T00:00:00Z"}}
    assert event_hash(event) == event_hash(declared)
    assert event_hash(event) != event_hash({**event, "action": "ADD"})


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("urn:epc:id:sgtin:0614141.000001.SN-1", "https://id.gs1.org/01/00614141000012/21/SN-1"),
        ("urn:epc:class:lgtin:0614141.000001.L1", "https://id.gs1.org/01/00614141000012/10/L1"),
        ("urn:epc:idpat:sgtin:0614141.000001.*", "https://id.gs1.org/01/00614141000012"),
        ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908"),
        ("urn:epc:id:sgln:0614141.07346.0", "https://id.gs1.org/414/0614141073467"),
        ("urn:epc:id:sgln:0614141.07346.12", "https://id.gs1.org/414/0614141073467/254/12"),
        ("urn:epc:id:pgln:0614141.07346", "https://id.gs1.org/417/0614141073467"),
        (
            "https://example.com/some/path/gtin/00614141000012/lot/L1/ser/S1?17=261231",
            "https://id.gs1.org/01/00614141000012/21/S1",
        ),
        ("https://id.gs1.org/01/614141000012/10/L1", "https://id.gs1.org/01/00614141000012/10/L1"),
        (
            "urn:epc:id:sgtin:0614141.000001.a(b)",
            "https://id.gs1.org/01/00614141000012/21/a%28b%29",
        ),
    ],
)
def test_identifiers_become_constrained_canonical_digital_links(given: str, canonical: str) -> None:
    assert hash_form(given) == canonical
    assert index_form(given) == canonical


def test_values_that_are_no_gs1_identifiers_stay_as_written() -> None:
    assert hash_form("urn:uuid:5f2e0d3c-8d5e-4b8a-9b4c-0d2d1c3e4f5a") is None
    assert index_form(" geo:47.5,11.1 ") == "geo:47.5,11.1"
    # Percent-escapes in a Digital Link: the reference implementation keeps it as written for
    # the hash; the query index still finds one spelling.
    assert hash_form("https://example.com/01/00614141000012/21/98%22") is None
    assert index_form("https://example.com/01/00614141000012/21/98%22") == (
        "https://id.gs1.org/01/00614141000012/21/98%22"
    )


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("2022-02-16T20:33:31.116000-06:00", "2022-02-17T02:33:31.116Z"),
        ("2022-02-17T11:30:47Z", "2022-02-17T11:30:47.000Z"),
        ("2023-02-02T12:04:03.1415+01:00", "2023-02-02T11:04:03.142Z"),
        ("2023-02-02T12:04:03.9996+01:00", "2023-02-02T11:04:04.000Z"),
        ("not a time", "not a time"),
    ],
)
def test_times_are_utc_with_milliseconds(given: str, canonical: str) -> None:
    assert canonical_time(given) == canonical
