"""The password hash cost is a setting (``TRACEPORT_PASSWORD_HASH_COST``,
``Limits.password_hash_cost``): production keeps scrypt's N = 2^15, the tests lower it, and a
hash made at one cost verifies under any other because each hash carries its parameters."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, update

from portal.settings import Settings
from tests.conftest import TEST_LIMITS, Browser, api_token
from tests.identity.conftest import STRONG, create_person
from trace_core.demo import DEMO_PASSWORD, OUR_COMPANY
from trace_core.identity.models import ApiClient, ClientSecret, User
from trace_core.identity.passwords import DEFAULT_COST, hash_password, verify_password
from trace_core.services import Limits, Runtime

#: ``Traceport-demo-1`` hashed at the production cost before the cost became a setting.
OLD_HASH = "scrypt$32768$8$1$sbv5TBwmjIPhnO8KTppmvA==$Q7tMyG4gtlXSNFv227gtVPqACMcILDAzn2xkkgFPt1U="


def test_production_keeps_scrypt_n_2_to_the_15() -> None:
    assert DEFAULT_COST == Limits().password_hash_cost == 2**15
    assert Settings.from_env({}).limits.password_hash_cost == 2**15
    assert hash_password("Traceport-demo-1").startswith("scrypt$32768$8$1$")


def test_the_tests_run_at_a_lower_cost() -> None:
    assert TEST_LIMITS.password_hash_cost < 2**10


@pytest.mark.parametrize("cost", [2, 16, 1024])
def test_a_hash_records_its_cost_and_verifies_under_any_other(cost: int) -> None:
    stored = hash_password(STRONG, cost)
    scheme, n, r, p, _salt, _digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(cost), "8", "1")
    assert verify_password(STRONG, stored)
    assert not verify_password(STRONG + "x", stored)
    assert verify_password(DEMO_PASSWORD, OLD_HASH)
    assert not verify_password(STRONG, OLD_HASH)


@pytest.mark.parametrize("cost", [0, 1, 3, 1000, 2**21, -16])
def test_a_cost_scrypt_cannot_use_is_refused(cost: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        hash_password(STRONG, cost)


def test_the_setting_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"TRACEPORT_PASSWORD_HASH_COST": "1024"})
    assert settings.limits.password_hash_cost == 1024


@pytest.mark.parametrize(
    ("value", "message"),
    [("1000", "power of two"), ("0", "power of two"), ("2**15", "not a number"), ("x", "number")],
)
def test_a_bad_setting_stops_the_start(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"TRACEPORT_PASSWORD_HASH_COST: .*{message}"):
        Settings.from_env({"TRACEPORT_PASSWORD_HASH_COST": value})


async def test_new_hashes_use_the_runtimes_cost(runtime: Runtime) -> None:
    user = await create_person(
        runtime, OUR_COMPANY, "hash.cost@traceport.example", "H C", ["operations"]
    )
    assert user.password_hash.startswith(f"scrypt${runtime.limits.password_hash_cost}$")


async def test_a_password_hashed_at_the_production_cost_still_signs_in(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    """A stored production-cost hash (an existing account) signs in under the tests' low cost,
    and so does a client secret hashed at the production cost."""
    acme_edi = select(ApiClient.id).where(ApiClient.client_id == "acme-edi").scalar_subquery()
    async with runtime.sessions() as session, session.begin():
        qa = User.email_key == "qa@traceport.example"
        await session.execute(update(User).where(qa).values(password_hash=OLD_HASH))
        await session.execute(
            update(ClientSecret)
            .where(ClientSecret.api_client_id == acme_edi)
            .values(secret_hash=hash_password("acme-edi-secret"))
        )
    browser = Browser(client)
    refused = await browser.login("qa@traceport.example", STRONG)
    assert refused.status_code == 401, refused.text
    response = await browser.login("qa@traceport.example", DEMO_PASSWORD)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    assert await api_token(client, "acme-edi", "acme-edi-secret")
