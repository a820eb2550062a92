"""The single sign-on rules without HTTP: claims → internal user, links, provisioning, roles."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from trace_core.errors import AuthenticationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.models import User
from trace_core.identity.passwords import verify_password
from trace_core.identity.service import LOGIN_FAILED
from trace_core.identity.sso import (
    SSO_ONLY_PASSWORD_HASH,
    SsoConfig,
    login_with_claims,
    parse_role_map,
)
from trace_core.records.models import AuditEvent, RecordVersion
from trace_core.services import Runtime, provide_services

ISSUER = "https://login.example.com/tenant/v2.0"


def config(**changes: Any) -> SsoConfig:
    fields: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": "traceport",
        "client_secret": "secret",
        "role_map": parse_role_map("qa=qa_reviewer,qa=auditor,ops=operations"),
        "email_domains": ("traceport.example",),
    }
    return SsoConfig(**{**fields, **changes})


def claims(sub: str = "sub-1", email: str = "qa@traceport.example", **extra: Any) -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "sub": sub,
        "email": email,
        "email_verified": True,
        "groups": ["qa"],
        **extra,
    }


async def sign_in(runtime: Runtime, cfg: SsoConfig, given: dict[str, Any]) -> User:
    async with provide_services(runtime, Actor.system("ui")) as services:
        user = await login_with_claims(services, cfg, given)
        await services.keeper.commit()
        return user


async def failure_reason(runtime: Runtime) -> str:
    async with runtime.sessions() as session:
        event = await session.scalar(
            select(AuditEvent)
            .where(AuditEvent.action == "sso_login_failed")
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
        assert event is not None and event.new_values is not None
        return str(event.new_values["reason"])


def test_role_map_parsing_and_validation() -> None:
    assert parse_role_map(" qa = qa_reviewer , qa=auditor,/staff/ops=operations,") == {
        "qa": frozenset({"qa_reviewer", "auditor"}),
        "/staff/ops": frozenset({"operations"}),
    }
    with pytest.raises(ValueError, match="not 'group=role'"):
        parse_role_map("qa")
    with pytest.raises(ValueError, match="not internal roles: supplier_signer"):
        config(role_map=parse_role_map("vendors=supplier_signer"))
    with pytest.raises(ValueError, match="role map is empty"):
        config(role_map={})
    with pytest.raises(ValueError, match="needs the allowed e-mail domains"):
        config(auto_provision=True, email_domains=())
    with pytest.raises(ValueError, match="must include 'openid'"):
        config(scopes=("email",))
    cfg = config()
    assert cfg.groups_in({"groups": "qa, ops"}) == ["qa", "ops"]
    assert cfg.roles_for(["qa", "unknown"]) == {"qa_reviewer", "auditor"}
    assert cfg.email_allowed("x@TRACEPORT.example") and not cfg.email_allowed("x@evil.example")


@pytest.mark.req("A11-09")
async def test_the_subject_not_the_address_identifies_a_linked_person(runtime: Runtime) -> None:
    qa = await sign_in(runtime, config(), claims())
    assert qa.email_key == "qa@traceport.example" and qa.sso_subject == "sub-1"
    assert sorted(qa.roles) == ["auditor", "qa_reviewer"]
    # The provider changed the address: the subject still finds the same person.
    again = await sign_in(runtime, config(), claims(email="quinn.avery@traceport.example"))
    assert again.id == qa.id
    # Another subject claiming the linked address is not the same person.
    with pytest.raises(AuthenticationFailed):
        await sign_in(runtime, config(), claims(sub="sub-2"))
    assert await failure_reason(runtime) == "linked_to_another_identity"
    # A token from another issuer is not trusted for this configuration.
    with pytest.raises(AuthenticationFailed):
        await sign_in(runtime, config(), claims(iss="https://other.example"))
    assert await failure_reason(runtime) == "invalid_claims"


@pytest.mark.req("A11-07")
@pytest.mark.req("A11-09")
async def test_auto_provisioning_creates_an_internal_account_without_a_password(
    runtime: Runtime,
) -> None:
    cfg = config(auto_provision=True)
    person = claims(sub="sub-new", email="Nia.Okoro@traceport.example", name="Nia Okoro")
    user = await sign_in(runtime, cfg, person)
    assert user.organization.is_internal and user.full_name == "Nia Okoro"
    assert user.password_hash == SSO_ONLY_PASSWORD_HASH
    assert not verify_password(SSO_ONLY_PASSWORD_HASH, user.password_hash)
    async with runtime.sessions() as session:
        [version] = (
            await session.scalars(
                select(RecordVersion).where(
                    RecordVersion.record_type == "user", RecordVersion.record_id == user.id
                )
            )
        ).all()
    assert version.action == "create"
    # qa_reviewer signs audit-trail reviews: a signing role waits for an identity check (P11-19)
    assert version.content["roles"] == ["auditor"]
    assert (version.content["sso_issuer"], version.content["sso_subject"]) == (ISSUER, "sub-new")
    # No password opens this account: the provider is the only way in.
    async with provide_services(runtime, Actor.system("ui")) as services:
        with pytest.raises(AuthenticationFailed, match=LOGIN_FAILED[:20]):
            await services.identity.login("nia.okoro@traceport.example", "!sso-only")
    # The next sign-in finds the account by its subject; nothing new is created.
    assert (await sign_in(runtime, cfg, person)).id == user.id


async def test_the_verified_address_claim_is_configurable_for_entra_id(runtime: Runtime) -> None:
    # Entra ID never sends ``email_verified`` for work accounts; its ``xms_edov`` says the
    # address's domain is verified by the tenant.
    entra = config(email_verified_claim="xms_edov")
    with pytest.raises(AuthenticationFailed):
        await sign_in(runtime, entra, claims())
    assert await failure_reason(runtime) == "email_not_verified"
    person = {**claims(), "xms_edov": True}
    del person["email_verified"]
    assert (await sign_in(runtime, entra, person)).sso_subject == "sub-1"
