"""A record's page with its signing forms, and a step taken from it — sign, decide, withdraw,
void — answered the same way on every such page: 303 back to the page once it is done (POST →
redirect → GET); a refused step is rolled back and the page is shown again with the refusal
where the form was."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.response import Redirect, Template

from portal.forms import refused_status
from trace_core.errors import AuthenticationFailed, Conflict, DomainError, ValidationFailed
from trace_core.services import Services

#: What a signing form shows on its page: a wrong signature component (422), a refused
#: field (422), a record that moved on or a step no longer allowed (409).
SIGNING_REFUSALS: tuple[type[DomainError], ...] = (AuthenticationFailed, ValidationFailed, Conflict)

#: Shows the record's page again with a refusal's message and status.
Reshow = Callable[[str, int], Awaitable[Template]]


async def take_step(
    services: Services,
    step: Awaitable[object],
    page: str,
    reshow: Reshow,
    refusals: tuple[type[DomainError], ...] = SIGNING_REFUSALS,
) -> Template | Redirect:
    """Await ``step`` (one service call) and redirect to ``page``; on one of ``refusals``,
    roll back and ``reshow`` the page (``refused_status``). Any other error is the error
    page's."""
    try:
        await step
    except refusals as exc:
        await services.keeper.rollback()
        return await reshow(exc.message, refused_status(exc))
    return Redirect(page, status_code=303)


async def record_page(
    services: Services, template: str, status: int, error: str | None, context: dict[str, Any]
) -> Template:
    """A record's page with its signing forms: the page's own ``context``, the refusal to show
    where the form was (``error``), and which signature components the person must give
    (``signing``, read by ``_sign_fields.html``)."""
    signing = await services.identity.signing_requirements(services.actor)
    return Template(
        template, status_code=status, context={**context, "error": error, "signing": signing}
    )
