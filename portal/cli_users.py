"""``traceport users invite``: the way the first administrator gets an account.

Every later account comes from an invitation in the portal; the first one needs somebody with
shell access. The command does exactly what the portal does — an invitation by e-mail, sent
through the configured mailer (``var/outbox`` by default), audited with channel ``cli`` — so
even the first administrator chooses their own password (P11-22): nothing is printed that
would let the operator sign in as them.
"""

from __future__ import annotations

import asyncio
import sys

import click

from portal.cli_records import settings_for


@click.group()
def users() -> None:
    """People: invite someone (the first administrator)."""


@users.command("invite")
@click.argument("email")
@click.option("--organization", required=True, help="Name of an existing organization.")
@click.option("--role", "roles", multiple=True, required=True, help="A role; repeat for several.")
@click.option("--database-url", default=None, help="Override TRACEPORT_DATABASE_URL.")
def users_invite(
    email: str, organization: str, roles: tuple[str, ...], database_url: str | None
) -> None:
    """E-mail EMAIL an invitation into ORGANIZATION with the given roles."""
    from portal.runtime import build_runtime
    from trace_core.errors import DomainError
    from trace_core.identity.actor import Actor
    from trace_core.identity.onboarding import OnboardingService
    from trace_core.services import provide_services

    settings = settings_for(database_url)

    async def run() -> str:
        runtime, engine = build_runtime(settings)
        try:
            system = Actor.system("cli")
            async with provide_services(runtime, system) as services:
                org = await services.identity.organization_by_name(organization)
                sent = await OnboardingService(services).invite(system, org.id, email, list(roles))
            where = "sent" if sent.mailed else "NOT sent (see the audit trail, mail_failed)"
            return f"Invitation {sent.invitation.id} for {email}: e-mail {where}."
        finally:
            await engine.dispose()

    try:
        click.echo(asyncio.run(run()))
    except DomainError as exc:
        click.echo(f"refused: {exc.message}", err=True)
        sys.exit(1)
