"""The standard event query (EPC-05): EPCIS 2.0 query parameters read into an
:class:`EventQuery`, and the opaque page token.

Several values of one parameter are given by repeating it or by separating them with ``|``.
Identifiers match in their canonical form, so a URN finds events captured with the Digital Link
and back; a GTIN-level value (``urn:epc:idpat:sgtin:0614141.000001.*`` or
``https://id.gs1.org/01/00614141000012``) matches every lot and serial of that GTIN. A
parameter Traceport does not implement is refused, never silently ignored: a filter that is
ignored returns events the caller did not ask for.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from trace_core.epcis.document import EVENT_TYPES
from trace_core.epcis.identifiers import index_form, read_gs1
from trace_core.epcis.vocabulary import BIZ_STEP, expand_curie, standard_uri
from trace_core.errors import ValidationFailed

#: Query parameter → the identifier roles it looks at (``EpcisEventIdentifier.role``).
MATCH_ROLES: dict[str, tuple[str, ...]] = {
    "MATCH_epc": ("epc", "child"),
    "MATCH_parentID": ("parent",),
    "MATCH_inputEPC": ("input",),
    "MATCH_outputEPC": ("output",),
    "MATCH_anyEPC": ("epc", "child", "parent", "input", "output"),
    "MATCH_epcClass": ("class", "child_class"),
    "MATCH_inputEPCClass": ("input_class",),
    "MATCH_outputEPCClass": ("output_class",),
    "MATCH_anyEPCClass": ("class", "child_class", "input_class", "output_class"),
}
TIME_PARAMETERS = ("GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime")
OTHER_PARAMETERS = ("eventType", "EQ_bizStep", "EQ_action", "perPage", "nextPageToken")
PARAMETERS = frozenset((*MATCH_ROLES, *TIME_PARAMETERS, *OTHER_PARAMETERS))
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000


@dataclass(frozen=True)
class Match:
    """One identifier to look for: exactly, or (``prefix``) every serial and lot under it."""

    uri: str
    prefix: bool


@dataclass(frozen=True)
class EventQuery:
    event_types: tuple[str, ...] = ()
    biz_steps: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    times: dict[str, dt.datetime] = field(default_factory=dict)
    matches: dict[str, tuple[Match, ...]] = field(default_factory=dict)
    per_page: int = DEFAULT_PER_PAGE
    #: (event time, row id) of the last event of the previous page.
    after: tuple[dt.datetime, int] | None = None
    #: Digest of the filters, bound into page tokens.
    digest: str = ""


def _values(raw: Sequence[str]) -> list[str]:
    return [v.strip() for item in raw for v in item.split("|") if v.strip()]


def _time(name: str, text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.strip().upper())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationFailed(
            {name: f"{text!r} is not a date-time with a UTC offset, e.g. 2026-11-24T13:05:00Z"}
        )
    return moment.astimezone(dt.UTC)


def parse_query(params: Mapping[str, Sequence[str]]) -> EventQuery:
    """Read query-string parameters (name → every value given); refuse unknown ones."""
    unknown = sorted(set(params) - PARAMETERS)
    if unknown:
        supported = ", ".join(sorted(PARAMETERS))
        raise ValidationFailed(
            {unknown[0]: f"the query parameter {unknown[0]!r} is not supported; use {supported}"}
        )
    types = tuple(_values(params.get("eventType", ())))
    bad = [t for t in types if t not in EVENT_TYPES]
    if bad:
        allowed = ", ".join(sorted(EVENT_TYPES))
        raise ValidationFailed({"eventType": f"{bad[0]!r} is not an event type; use {allowed}"})
    steps = tuple(
        standard_uri(BIZ_STEP, v) or expand_curie(v, {})
        for v in _values(params.get("EQ_bizStep", ()))
    )
    actions = tuple(_values(params.get("EQ_action", ())))
    if any(a not in ("ADD", "OBSERVE", "DELETE") for a in actions):
        raise ValidationFailed({"EQ_action": "use ADD, OBSERVE or DELETE"})
    times: dict[str, dt.datetime] = {}
    for name in TIME_PARAMETERS:
        given = _values(params.get(name, ()))
        if len(given) > 1:
            raise ValidationFailed({name: "give one value"})
        if given:
            times[name] = _time(name, given[0])
    matches: dict[str, tuple[Match, ...]] = {}
    for name in MATCH_ROLES:
        given = _values(params.get(name, ()))
        if given:
            matches[name] = tuple(_match(v) for v in given)
    per_page = _per_page(params.get("perPage", ()))
    digest = hashlib.sha256(
        json.dumps(
            [types, steps, actions, sorted((k, v.isoformat()) for k, v in times.items()),
             sorted((k, [(m.uri, m.prefix) for m in v]) for k, v in matches.items())],
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]  # fmt: skip
    tokens = _values(params.get("nextPageToken", ()))
    after = read_token(tokens[0], digest) if tokens else None
    return EventQuery(types, steps, actions, times, matches, per_page, after, digest)


def _match(value: str) -> Match:
    canonical = index_form(value)
    info = read_gs1(canonical)
    class_level = (
        info is not None
        and info.level == "class"
        and info.lot is None
        and canonical.startswith("https://id.gs1.org/01/")
    )
    return Match(canonical, class_level)


def _per_page(raw: Sequence[str]) -> int:
    given = _values(raw)
    if not given:
        return DEFAULT_PER_PAGE
    if len(given) > 1 or not given[0].isdigit() or not 1 <= int(given[0]) <= MAX_PER_PAGE:
        raise ValidationFailed({"perPage": f"give a whole number from 1 to {MAX_PER_PAGE}"})
    return int(given[0])


def make_token(moment: dt.datetime, row_id: int, digest: str) -> str:
    text = json.dumps({"t": moment.isoformat(), "i": row_id, "q": digest})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def read_token(token: str, digest: str) -> tuple[dt.datetime, int]:
    refused = ValidationFailed(
        {"nextPageToken": "not a page token of this query; repeat the query without it"}
    )
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        moment = dt.datetime.fromisoformat(data["t"])
        row_id = int(data["i"])
        if data["q"] != digest or moment.tzinfo is None:
            raise refused
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise refused from exc
    return moment, row_id
