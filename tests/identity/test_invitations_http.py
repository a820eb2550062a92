"""Onboarding over HTTP, with the mail going through a real SMTP server on loopback: an
internal admin invites a supplier's first admin, who accepts (a weak password is refused and
creates nothing), signs in, invites a colleague and — once Traceport has verified the
colleague's identity — makes them a signer. Links work once and until they expire; disabled
accounts stay, and their address is never used again."""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from tests.conftest import Browser
from tests.identity.conftest import (
    ADMIN,
    STRONG,
    STRONGER,
    AppMaker,
    SmtpServer,
    create_person,
    new_client,
    signed_in,
)
from trace_core.demo import DEMO_PASSWORD
from trace_core.identity.actor import Actor
from trace_core.identity.models import Organization, User
from trace_core.identity.onboarding import LINK_NOT_VALID, OnboardingService
from trace_core.identity.onboarding_models import IdentityVerification, Invitation
from trace_core.identity.service import LOGIN_FAILED, actor_for_user
from trace_core.mail import OutboxMailer, SmtpMailer
from trace_core.records.models import AuditEvent, RecordVersion
from trace_core.services import Runtime, provide_services

LENA = "lena.vogt@acme-polymers.example"
MAX = "max.brandt@acme-polymers.example"
ANNA = "anna@acme-polymers.example"


async def org_id(runtime: Runtime, name: str) -> int:
    async with runtime.sessions() as session:
        found = await session.scalar(select(Organization.id).where(Organization.name == name))
        assert found is not None
        return int(found)


async def user_by_email(runtime: Runtime, email: str) -> User | None:
    async with runtime.sessions() as session:
        return await session.scalar(select(User).where(User.email_key == email.lower()))


async def events(runtime: Runtime, action: str) -> list[AuditEvent]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        )
        return list(rows)


def accept_form(name: str, password: str, again: str | None = None) -> dict[str, Any]:
    return {"full_name": name, "password": password, "password_again": again or password}


async def accept(http: httpx.AsyncClient, link: str, name: str) -> None:
    async with new_client(http) as other:
        done = await Browser(other).post(link, accept_form(name, STRONG))
        assert done.status_code == 200 and "Your account is ready" in done.text, done.text


@pytest.mark.req("P11-19")
@pytest.mark.req("A11-09")
@pytest.mark.req("P11-23")
async def test_invitation_journey_over_http_with_smtp(
    make_client: AppMaker,
    smtp_mailer: SmtpMailer,
    smtp_server: SmtpServer,
    admin: User,
    runtime: Runtime,
) -> None:
    http = await make_client(smtp_mailer)
    acme = await org_id(runtime, "Acme Polymers")
    ada = await signed_in(http, ADMIN)

    page = await ada.get(f"/internal/organizations/{acme}")
    assert page.status_code == 200 and "Invite someone" in page.text
    sent = await ada.post(
        f"/internal/organizations/{acme}/invitations",
        {"email": "Lena.Vogt@Acme-Polymers.example", "roles": ["supplier_admin"]},
    )
    assert sent.status_code == 303 and "mail=sent" in sent.headers["location"], sent.text
    mail = smtp_server.mailbox.to(LENA)
    assert len(mail) == 1 and "Acme Polymers" in str(mail[0]["Subject"])
    link = smtp_server.mailbox.link(LENA, "/invite/")
    shown = await ada.get(sent.headers["location"])
    assert (
        "The invitation was sent." in shown.text and "Lena.Vogt@Acme-Polymers.example" in shown.text
    )

    async with new_client(http) as lena_http:
        lena = Browser(lena_http)
        form = await lena.get(link)
        assert form.status_code == 200 and "Acme Polymers" in form.text and "Ada Admin" in form.text
        weak = await lena.post(link, accept_form("Lena Vogt", "Password1234"))
        assert weak.status_code == 422 and "too common" in weak.text
        differ = await lena.post(link, accept_form("Lena Vogt", STRONGER, STRONGER + "x"))
        assert differ.status_code == 422 and "The two passwords differ" in differ.text
        assert await user_by_email(runtime, LENA) is None  # nothing was created
        refusals = await events(runtime, "invitation_refused")
        assert refusals and all("Password1234" not in str(e.new_values) for e in refusals)

        done = await lena.post(link, accept_form("Lena Vogt", STRONGER))
        assert done.status_code == 200 and "Your account is ready" in done.text
        again = await lena.post(link, accept_form("Lena Vogt", STRONGER))
        assert again.status_code == 410 and LINK_NOT_VALID in again.text

        lena_user = await user_by_email(runtime, LENA)
        assert lena_user is not None and lena_user.roles == ["supplier_admin"]
        assert lena_user.email == "Lena.Vogt@Acme-Polymers.example"

        assert (await lena.login(LENA, STRONGER)).status_code == 303
        team = await lena.get("/supplier/team")
        assert team.status_code == 200 and "Lena Vogt" in team.text and "Anna Schmidt" in team.text
        # An external admin invites no signers and no admins, and only into their own company.
        for roles, why in (
            (["supplier_signer"], "Signing roles are not given by invitation"),
            (["supplier_admin"], "You may give these roles in Acme Polymers: Supplier user"),
            (["cm_user"], "You may give these roles in Acme Polymers"),
        ):
            refused = await lena.post("/supplier/team/invitations", {"email": MAX, "roles": roles})
            assert refused.status_code == 422 and why in refused.text, roles
        steri = await org_id(runtime, "SteriPro")
        foreign = await lena.post(
            f"/internal/organizations/{steri}/invitations", {"email": MAX, "roles": ["cm_user"]}
        )
        assert foreign.status_code == 403  # our admin pages are for our admins
        own = await lena.post(
            f"/internal/organizations/{acme}/invitations",
            {"email": MAX, "roles": ["supplier_user"]},
        )
        assert own.status_code == 403
        invited = await lena.post(
            "/supplier/team/invitations", {"email": MAX, "roles": ["supplier_user"]}
        )
        assert invited.status_code == 303, invited.text
        await accept(http, smtp_server.mailbox.link(MAX, "/invite/"), "Max Brandt")
        max_user = await user_by_email(runtime, MAX)
        assert max_user is not None and max_user.roles == ["supplier_user"]

        anna = await user_by_email(runtime, ANNA)
        assert anna is not None
        assert (await lena.get(f"/supplier/team/{admin.id}")).status_code == 404

        # P11-19: no signing role before an identity verification is on record.
        grant = {"role": "supplier_signer", "reason": "signs CoAs for the Ludwigshafen site"}
        refused = await lena.post(f"/supplier/team/{max_user.id}/grant", grant)
        assert refused.status_code == 422 and "identity was verified" in refused.text
        assert "supplier_signer" not in (await user_by_email(runtime, MAX) or max_user).roles
        assert [e.new_values for e in await events(runtime, "role_grant_refused")] == [
            {"role": "supplier_signer", "problem": "identity not verified"}
        ]
        not_theirs = await lena.post(
            f"/supplier/team/{max_user.id}/verify",
            {"method": "video call with government photo ID", "note": ""},
        )
        assert not_theirs.status_code == 403

        verified = await ada.post(
            f"/internal/users/{max_user.id}/verify",
            {"method": "video call with government photo ID", "note": "passport ending 4821"},
        )
        assert verified.status_code == 303, verified.text
        member = await lena.get(f"/supplier/team/{max_user.id}")
        assert "video call with government photo ID" in member.text and "Ada Admin" in member.text

        granted = await lena.post(f"/supplier/team/{max_user.id}/grant", grant)
        assert granted.status_code == 303, granted.text
        revoked = await lena.post(
            f"/supplier/team/{max_user.id}/revoke",
            {"role": "supplier_signer", "reason": "moved to purchasing"},
        )
        assert revoked.status_code == 303

    # A11-09: every grant and revocation is audited with its approver and reason, and the
    # account record gets a new version each time.
    granted_events = await events(runtime, "role_granted")
    revoked_events = await events(runtime, "role_revoked")
    assert [(e.actor_name, e.record_id, e.reason) for e in granted_events] == [
        ("Lena Vogt", max_user.id, "signs CoAs for the Ludwigshafen site")
    ]
    assert granted_events[0].new_values == {
        "role": "supplier_signer",
        "roles": ["supplier_signer", "supplier_user"],
        "approved_by": "Lena Vogt",
        "approver_id": lena_user.id,
    }
    assert [(e.actor_name, e.reason, e.new_values["role"]) for e in revoked_events] == [
        ("Lena Vogt", "moved to purchasing", "supplier_signer")
    ]
    async with runtime.sessions() as session:
        versions = list(
            await session.scalars(
                select(RecordVersion)
                .where(RecordVersion.record_type == "user", RecordVersion.record_id == max_user.id)
                .order_by(RecordVersion.version)
            )
        )
        verification = await session.scalar(
            select(IdentityVerification).where(IdentityVerification.user_id == max_user.id)
        )
    assert [(v.action, v.reason, v.content["roles"]) for v in versions] == [
        ("create", None, ["supplier_user"]),
        ("revise", "signs CoAs for the Ludwigshafen site", ["supplier_signer", "supplier_user"]),
        ("revise", "moved to purchasing", ["supplier_user"]),
    ]
    assert versions[0].author_name.startswith("invitation ")
    assert verification is not None and verification.verified_by == admin.id
    assert verification.method == "video call with government photo ID"
    verified = [e for e in await events(runtime, "identity_verified") if e.record_id == max_user.id]
    assert [e.new_values["method"] for e in verified] == ["video call with government photo ID"]
    accepted = await events(runtime, "invitation_accepted")
    assert [e.actor_name for e in accepted] == ["Lena Vogt", "Max Brandt"]


@pytest.mark.req("P11-19")
@pytest.mark.req("A11-09")
async def test_internal_signing_roles_need_verification_and_nobody_grants_themselves(
    make_client: AppMaker, outbox: OutboxMailer, admin: User, runtime: Runtime
) -> None:
    http = await make_client(outbox)
    ada = await signed_in(http, ADMIN)
    ops = await user_by_email(runtime, "ops@traceport.example")
    assert ops is not None
    form = {"role": "qa_approver", "reason": "covers QA during the audit"}
    refused = await ada.post(f"/internal/users/{ops.id}/grant", form)
    assert refused.status_code == 422 and "signing role" in refused.text
    myself = await ada.post(f"/internal/users/{admin.id}/grant", {**form, "role": "auditor"})
    assert myself.status_code == 403 and "Someone else must grant you a role" in myself.text
    self_verify = await ada.post(
        f"/internal/users/{admin.id}/verify", {"method": "other", "other_method": "mirror"}
    )
    assert self_verify.status_code == 403
    no_note = await ada.post(
        f"/internal/users/{ops.id}/verify", {"method": "other", "other_method": "phone call"}
    )
    assert no_note.status_code == 422 and "Describe the verification" in no_note.text
    assert (
        await ada.post(f"/internal/users/{ops.id}/grant", {**form, "reason": ""})
    ).status_code == 422
    ok = await ada.post(
        f"/internal/users/{ops.id}/verify",
        {"method": "in person with government photo ID", "note": "ID card, HR office"},
    )
    assert ok.status_code == 303
    assert (await ada.post(f"/internal/users/{ops.id}/grant", form)).status_code == 303
    assert [e.actor_name for e in await events(runtime, "role_granted")] == ["Ada Admin"]
    # The verification is history: the database refuses to change it.
    async with runtime.sessions() as session:
        with pytest.raises(Exception, match="append-only"):
            async with session.begin():
                await session.execute(update(IdentityVerification).values(method="forged"))


async def test_links_that_cannot_be_used_all_get_the_same_answer(
    make_client: AppMaker, outbox: OutboxMailer, admin: User, runtime: Runtime
) -> None:
    http = await make_client(outbox)
    acme = await org_id(runtime, "Acme Polymers")
    async with provide_services(runtime, Actor.system("ui")) as s:
        ada = actor_for_user(await s.identity.user_by_email(ADMIN), "ui")
    tokens = []
    mailing = replace(runtime, mailer=outbox)
    for email in ("one@acme-polymers.example", "two@acme-polymers.example"):
        async with provide_services(mailing, ada) as s:
            await OnboardingService(s).invite(ada, acme, email, ["supplier_user"])
        files = sorted(outbox.folder.glob("*.eml"))
        text = files[-1].read_text()
        tokens.append(text.split("/invite/")[1].split()[0])
    async with runtime.sessions() as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.email == "one@acme-polymers.example")
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
        await session.commit()
    browser = Browser(http)
    await accept(http, f"/invite/{tokens[1]}", "Two Person")
    answers = []
    for token in (tokens[0], tokens[1], "x" * 43):
        for response in (
            await browser.get(f"/invite/{token}"),
            await browser.post(f"/invite/{token}", accept_form("Some One", STRONGER)),
        ):
            answers.append((response.status_code, response.text))
    assert {status for status, _ in answers} == {410}
    distinct = sorted({text for _, text in answers})
    assert len(distinct) == 1, "\n".join(
        difflib.unified_diff(distinct[0].splitlines(), distinct[1].splitlines(), lineterm="")
    )
    assert LINK_NOT_VALID in answers[0][1]
    reasons = [e.new_values["reason"] for e in await events(runtime, "invitation_refused")]
    assert reasons == ["expired", "used", "unknown"]
    assert await user_by_email(runtime, "one@acme-polymers.example") is None


@pytest.mark.req("P11-18")
async def test_disabled_accounts_stay_cannot_sign_in_and_their_address_is_never_reused(
    make_client: AppMaker, outbox: OutboxMailer, admin: User, runtime: Runtime
) -> None:
    http = await make_client(outbox)
    acme = await org_id(runtime, "Acme Polymers")
    anna_user = await user_by_email(runtime, ANNA)
    assert anna_user is not None
    ada = await signed_in(http, ADMIN)
    async with new_client(http) as anna_http:
        anna = await signed_in(anna_http, ANNA, DEMO_PASSWORD)
        assert (await anna.get("/supplier")).status_code == 200
        no_reason = await ada.post(f"/internal/users/{anna_user.id}/disable", {"reason": " "})
        assert no_reason.status_code == 422
        disabled = await ada.post(
            f"/internal/users/{anna_user.id}/disable", {"reason": "left Acme Polymers"}
        )
        assert disabled.status_code == 303
        # Her open session ends at once, and she cannot sign in again.
        assert (await anna.get("/supplier")).status_code == 303
        failed = await anna.login(ANNA, DEMO_PASSWORD)
        assert failed.status_code == 401 and LOGIN_FAILED in failed.text
    for email in (ANNA, ANNA.upper(), " Anna@Acme-Polymers.Example "):
        reuse = await ada.post(
            f"/internal/organizations/{acme}/invitations",
            {"email": email, "roles": ["supplier_user"]},
        )
        assert reuse.status_code == 422 and "cannot be reused" in reuse.text, email
    async with runtime.sessions() as session:
        assert await session.get(User, anna_user.id) is not None  # never deleted
        count = await session.scalar(
            select(func.count()).select_from(User).where(User.email_key == ANNA)
        )
        assert count == 1
        last = await session.scalar(
            select(RecordVersion)
            .where(RecordVersion.record_type == "user", RecordVersion.record_id == anna_user.id)
            .order_by(RecordVersion.version.desc())
            .limit(1)
        )
    assert last is not None and (last.status, last.action, last.reason) == (
        "disabled",
        "status",
        "left Acme Polymers",
    )
    enabled = await ada.post(f"/internal/users/{anna_user.id}/enable", {"reason": "rehired"})
    assert enabled.status_code == 303
    async with new_client(http) as anna_http:
        assert (await Browser(anna_http).login(ANNA, DEMO_PASSWORD)).status_code == 303


async def test_admin_pages_need_the_permission(
    make_client: AppMaker, outbox: OutboxMailer, admin: User, runtime: Runtime
) -> None:
    http = await make_client(outbox)
    qa = await signed_in(http, "qa@traceport.example", DEMO_PASSWORD)
    assert (await qa.get("/internal/organizations")).status_code == 403
    async with new_client(http) as anna_http:
        anna = await signed_in(anna_http, ANNA, DEMO_PASSWORD)
        assert (await anna.get("/supplier/team")).status_code == 403
        assert (await anna.get(f"/internal/users/{admin.id}")).status_code == 403
    ada = await signed_in(http, ADMIN)
    listing = await ada.get("/internal/organizations")
    assert listing.status_code == 200 and "Acme Polymers" in listing.text
    assert 'href="/internal/organizations"' in listing.text  # the admin's menu entry
    created = await ada.post(
        "/internal/organizations",
        {"name": "Polymer Dynamics", "kind": "supplier_and_cm", "address": "Cork"},
    )
    assert created.status_code == 303
    new_org = created.headers["location"]
    site = await ada.post(f"{new_org}/sites", {"name": "Cork plant", "address": "Ringaskiddy"})
    assert site.status_code == 303
    page = await ada.get(new_org)
    assert "Cork plant" in page.text and "Supplier and contract manufacturer" in page.text
    duplicate = await ada.post(
        "/internal/organizations", {"name": "polymer dynamics", "kind": "supplier"}
    )
    assert duplicate.status_code == 422 and "exists already" in duplicate.text
    # An organization that is both may hold roles of either kind.
    both = await ada.post(
        f"{new_org}/invitations",
        {"email": "it@polymer-dynamics.example", "roles": ["supplier_admin", "cm_user"]},
    )
    assert both.status_code == 303
    assert [
        e.new_values["name"] for e in await events(runtime, "create") if e.record_type == "site"
    ] == ["Cork plant"]


async def test_a_supplier_admin_changes_only_colleagues_who_are_not_admins(
    make_client: AppMaker, outbox: OutboxMailer, runtime: Runtime
) -> None:
    first = await create_person(runtime, "Acme Polymers", LENA, "Lena Vogt", ["supplier_admin"])
    second = await create_person(runtime, "Acme Polymers", MAX, "Max Brandt", ["supplier_admin"])
    http = await make_client(outbox)
    lena = await signed_in(http, LENA)
    page = await lena.get(f"/supplier/team/{second.id}")
    assert page.status_code == 200 and "/grant" not in page.text and "/disable" not in page.text
    for action, form in (
        ("grant", {"role": "supplier_user", "reason": "helps out"}),
        ("revoke", {"role": "supplier_admin", "reason": "take over"}),
        ("disable", {"reason": "take over"}),
    ):
        refused = await lena.post(f"/supplier/team/{second.id}/{action}", form)
        assert refused.status_code == 403, action
        assert "Only a Traceport administrator" in refused.text
    mine = await lena.post(f"/supplier/team/{first.id}/disable", {"reason": "bye"})
    assert mine.status_code == 403
    assert (await user_by_email(runtime, MAX) or second).active
