"""Input integrity (issue 13): one number rule for every typed number, physical bounds that
refuse impossible results before any verdict, and the late-entry flag (DI-02)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from documents.pdf import make_pdf
from trace_core.db import utc_now
from trace_core.errors import ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.service import actor_for_user
from trace_core.lots.models import LotResult, SupplierLot
from trace_core.lots.service import LotSubmission, ResultInput, late_entry_days
from trace_core.parts.evaluation import (
    ABOVE_PHYSICAL_MAXIMUM,
    BELOW_PHYSICAL_MINIMUM,
    InputRefused,
    evaluate,
)
from trace_core.parts.models import Characteristic
from trace_core.processes.service import MeasuredValue, _values
from trace_core.quantities import (
    COMMA_REFUSED,
    EXPONENT_REFUSED,
    NOT_A_NUMBER,
    NUMBER_REQUIRED,
    QUANTITY_NOT_POSITIVE,
    SPACE_IN_NUMBER,
    TOO_LARGE,
    TOO_MANY_DECIMALS,
    UNIT_IN_NUMBER,
    number_problem,
    parse_decimal,
    parse_quantity,
)
from trace_core.records.models import RecordVersion
from trace_core.services import Runtime, provide_services

GOOD = {"MFI": "10.1", "MOIST": "0.03", "DENS": "1.30", "CYTO": "pass", "APPEAR": "Conforms"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.30", Decimal("1.30")),
        (" 12.5 ", Decimal("12.5")),
        ("12", Decimal(12)),
        ("0.05", Decimal("0.05")),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("+5", Decimal(5)),
        ("-3.2", Decimal("-3.2")),
        ("\u22123", Decimal(-3)),  # the typographic minus sign
        ("１２.５", Decimal("12.5")),  # full-width digits, as a Chinese input method types them
        ("１２．５", Decimal("12.5")),  # and the full-width full stop
        ("0.000001", Decimal("0.000001")),
    ],
)
def test_the_number_rule_reads_these(text: str, expected: Decimal) -> None:
    assert number_problem(text) is None
    assert parse_decimal(text) == expected


def test_negative_zero_is_read_as_zero() -> None:
    assert str(parse_decimal("-0")) == "0"
    assert str(parse_decimal("-0.0")) == "0.0"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1,30", COMMA_REFUSED),
        ("1,300", COMMA_REFUSED),  # 1.3 in Germany, 1300 in the US and China: never guessed
        ("12,5", COMMA_REFUSED),
        ("1.000,5", COMMA_REFUSED),
        ("1,000.5", COMMA_REFUSED),
        ("１２，５", COMMA_REFUSED),  # full-width comma
        ("1e3", EXPONENT_REFUSED),
        ("1.5E-2", EXPONENT_REFUSED),
        ("1 300", SPACE_IN_NUMBER),
        ("12.5 %", UNIT_IN_NUMBER),
        ("12.5%", UNIT_IN_NUMBER),
        ("25 kGy", UNIT_IN_NUMBER),
        ("NaN", NOT_A_NUMBER),
        ("Infinity", NOT_A_NUMBER),
        ("-inf", NOT_A_NUMBER),
        ("ten", NOT_A_NUMBER),
        ("1.2.3", NOT_A_NUMBER),
        ("--1", NOT_A_NUMBER),
        ("\u0663", NOT_A_NUMBER),  # an Arabic-Indic digit: Decimal() would read it, we do not
        ("", NUMBER_REQUIRED),
        ("   ", NUMBER_REQUIRED),
        (None, NUMBER_REQUIRED),
        ("0.0000001", TOO_MANY_DECIMALS),
        ("1" * 19, TOO_LARGE),
    ],
)
def test_the_number_rule_refuses_these_and_says_why(text: str | None, problem: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_decimal(text)
    assert str(err.value) == problem


@pytest.mark.parametrize(
    ("text", "problem"),
    [("0", QUANTITY_NOT_POSITIVE), ("-0", QUANTITY_NOT_POSITIVE), ("-1", QUANTITY_NOT_POSITIVE)],
)
def test_a_quantity_is_positive(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_quantity(text)
    assert parse_quantity("12.5") == Decimal("12.5")


def _moisture(**overrides: object) -> Characteristic:
    fields: dict[str, object] = {
        "code": "MOIST",
        "name": "Moisture content",
        "kind": "numeric",
        "unit": "%",
        "lower_limit": None,
        "upper_limit": Decimal("0.05"),
        "physical_min": Decimal(0),
        "physical_max": Decimal(100),
    }
    fields.update(overrides)
    return Characteristic(**fields)


@pytest.mark.parametrize(
    ("value", "unit", "problem"),
    [
        ("-5", None, BELOW_PHYSICAL_MINIMUM),
        ("-0.01", "%", BELOW_PHYSICAL_MINIMUM),
        ("100.01", None, ABOVE_PHYSICAL_MAXIMUM),
        ("1000001", "ppm", ABOVE_PHYSICAL_MAXIMUM),  # 100.0001 % once converted to our unit
        ("1,30", None, COMMA_REFUSED),
    ],
)
def test_a_result_outside_the_physical_bounds_is_an_input_error_not_a_verdict(
    value: str, unit: str | None, problem: str
) -> None:
    with pytest.raises(InputRefused) as err:
        evaluate(_moisture(), value, unit)
    assert str(err.value) == problem


@pytest.mark.parametrize(
    ("value", "verdict"),
    [("0", "pass"), ("0.05", "pass"), ("0.06", "fail"), ("100", "fail"), ("-0", "pass")],
)
def test_inside_the_physical_bounds_our_limits_judge_as_before(value: str, verdict: str) -> None:
    assert evaluate(_moisture(), value, None).verdict == verdict


def test_without_physical_bounds_only_our_limits_apply() -> None:
    free = _moisture(physical_min=None, physical_max=None)
    assert evaluate(free, "-5", None).verdict == "pass"  # below 0.05: our limit, no bound
    assert free.physical_bounds() is None
    assert _moisture().physical_bounds() == "0 – 100 %"
    assert _moisture(physical_max=None).physical_bounds() == "≥ 0 %"
    assert _moisture(physical_min=None).physical_bounds() == "≤ 100 %"


@pytest.mark.parametrize(
    ("value", "lower", "upper", "problem"),
    [
        ("30,5", None, None, COMMA_REFUSED),
        ("30,5", "25", None, COMMA_REFUSED),
        ("3e1", "25", None, EXPONENT_REFUSED),
        ("30", "2,5", None, COMMA_REFUSED),
    ],
)
def test_process_run_values_follow_the_same_rule(
    value: str, lower: str | None, upper: str | None, problem: str
) -> None:
    errors: dict[str, str] = {}
    assert _values([MeasuredValue("Dose", value, "kGy", lower, upper)], "parameters", errors) == []
    assert problem in errors["parameters.Dose"]


def test_process_run_text_values_stay_text() -> None:
    errors: dict[str, str] = {}
    checked = _values([MeasuredValue("Sterility", "no growth", None)], "results", errors)
    assert errors == {} and checked[0].verdict == "pass"


@pytest.mark.parametrize(
    ("made", "entered", "allowed", "expected"),
    [
        (dt.date(2026, 1, 1), dt.date(2026, 1, 31), 30, None),  # exactly 30 days: timely
        (dt.date(2026, 1, 1), dt.date(2026, 2, 1), 30, 31),
        (dt.date(2026, 1, 1), dt.date(2026, 4, 1), 30, 90),
        (dt.date(2026, 1, 1), dt.date(2026, 1, 8), 5, 7),
        (dt.date(2026, 1, 1), dt.date(2026, 1, 1), 30, None),
    ],
)
def test_late_entry_days(
    made: dt.date, entered: dt.date, allowed: int, expected: int | None
) -> None:
    assert late_entry_days(made, entered, allowed) == expected


# -- through the lot service, on both backends -------------------------------------------------


async def _anna(runtime: Runtime) -> Actor:
    async with provide_services(runtime, Actor.system()) as s:
        return actor_for_user(await s.identity.user_by_email("anna@acme-polymers.example"), "ui")


async def _submit(
    runtime: Runtime, lot_number: str, results: dict[str, str], **overrides: object
) -> SupplierLot:
    anna = await _anna(runtime)
    async with provide_services(runtime, anna) as s:
        doc = await s.attachments.upload_pdf(anna, "coa.pdf", make_pdf("CoA", [lot_number]))
        fields: dict[str, object] = {
            "part_number": "RES-100",
            "lot_number": lot_number,
            "quantity": "5",
            "unit": "kg",
            "manufactured_on": utc_now().date() - dt.timedelta(days=2),
            "expires_on": utc_now().date() + dt.timedelta(days=700),
            "coa_document_id": doc.id,
            "results": [ResultInput(k, v) for k, v in results.items()],
        }
        fields.update(overrides)
        return await s.lots.submit(anna, LotSubmission(**fields))  # type: ignore[arg-type]


async def _counts(runtime: Runtime) -> tuple[int, int, int]:
    async with runtime.sessions() as session:
        return (
            int(await session.scalar(select(func.count()).select_from(SupplierLot)) or 0),
            int(await session.scalar(select(func.count()).select_from(LotResult)) or 0),
            int(await session.scalar(select(func.count()).select_from(RecordVersion)) or 0),
        )


@pytest.mark.req("COA-02")
@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"results": {**GOOD, "MOIST": "-5"}}, "results.MOIST", BELOW_PHYSICAL_MINIMUM),
        ({"results": {**GOOD, "MOIST": "101"}}, "results.MOIST", ABOVE_PHYSICAL_MAXIMUM),
        ({"results": {**GOOD, "DENS": "1,30"}}, "results.DENS", COMMA_REFUSED),
        ({"results": {**GOOD, "MFI": "1e1"}}, "results.MFI", EXPONENT_REFUSED),
        ({"quantity": "12,5"}, "quantity", COMMA_REFUSED),
        ({"quantity": "12.5 kg"}, "quantity", UNIT_IN_NUMBER),
        ({"quantity": "NaN"}, "quantity", NOT_A_NUMBER),
    ],
)
async def test_a_lot_with_a_broken_input_rule_is_refused_and_writes_nothing(
    runtime: Runtime, changes: dict[str, object], field: str, problem: str
) -> None:
    changes = dict(changes)  # the parameters are shared by both backends' runs
    results = changes.pop("results", GOOD)
    assert isinstance(results, dict)
    before = await _counts(runtime)
    with pytest.raises(ValidationFailed) as err:
        await _submit(runtime, "IC-BAD", results, **changes)
    assert err.value.errors[field] == problem
    lots, lot_results, versions = await _counts(runtime)
    # Only the uploaded CoA's own record version: no lot, no result, no lot version.
    assert (lots, lot_results, versions) == (before[0], before[1], before[2] + 1)


async def test_full_width_numbers_are_read_and_judged(runtime: Runtime) -> None:
    lot = await _submit(runtime, "IC-FW", {**GOOD, "DENS": "１．３０"}, quantity="１２.５")
    assert lot.quantity == Decimal("12.5")
    dens = next(r for r in lot.results if r.characteristic.code == "DENS")
    assert (dens.value_numeric, dens.verdict) == (Decimal("1.30"), "pass")


@pytest.mark.req("DI-02")
async def test_a_coa_made_long_before_its_entry_is_accepted_and_flagged(runtime: Runtime) -> None:
    made = utc_now().date() - dt.timedelta(days=90)
    lot = await _submit(runtime, "IC-LATE", GOOD, manufactured_on=made)
    assert (lot.status, lot.late_entry_days) == ("draft", 90)
    async with provide_services(runtime, await _anna(runtime)) as s:
        version = await s.keeper.latest_version("supplier_lot", lot.id)
        assert version is not None
        assert version.content["late_entry_days"] == 90


@pytest.mark.req("DI-02")
async def test_a_timely_coa_is_not_flagged(runtime: Runtime) -> None:
    made = utc_now().date() - dt.timedelta(days=30)
    lot = await _submit(runtime, "IC-TIMELY", GOOD, manufactured_on=made)
    assert lot.late_entry_days is None


@pytest.mark.req("DI-02")
async def test_the_late_entry_limit_is_a_setting(runtime: Runtime) -> None:
    from dataclasses import replace

    strict = replace(runtime, limits=replace(runtime.limits, late_entry_days=1))
    made = utc_now().date() - dt.timedelta(days=2)
    lot = await _submit(strict, "IC-STRICT", GOOD, manufactured_on=made)
    assert lot.late_entry_days == 2


@pytest.mark.req("DI-02")
async def test_a_revision_is_judged_against_the_first_submission(runtime: Runtime) -> None:
    lot = await _submit(runtime, "IC-REV", GOOD)
    assert lot.late_entry_days is None
    anna = await _anna(runtime)
    async with provide_services(runtime, anna) as s:
        revised = await s.lots.revise(
            anna,
            lot.id,
            LotSubmission(
                "RES-100",
                "IC-REV",
                "5",
                "kg",
                utc_now().date() - dt.timedelta(days=45),
                utc_now().date() + dt.timedelta(days=700),
                lot.coa_document_id,
                [ResultInput(k, v) for k, v in GOOD.items()],
            ),
            "The manufacture date was mistyped.",
            lot.version,
        )
        assert revised.late_entry_days == 45


def test_the_demo_moisture_has_physical_bounds() -> None:
    from trace_core.demo import RESIN_SPEC

    moisture = next(c for c in RESIN_SPEC if c.code == "MOIST")
    assert (moisture.physical_min, moisture.physical_max) == (Decimal(0), Decimal(100))
