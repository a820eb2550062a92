"""The Litestar application factory: routes, templates, static files, CSRF, security headers,
error mapping and OpenAPI. Handlers stay thin; everything they do goes through ``Services``."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from sqlalchemy.ext.asyncio import AsyncEngine

from portal import (
    account,
    api,
    internal,
    language,
    onboarding,
    pages,
    passwords,
    records,
    second_factor,
    sso,
    supplier,
)
from portal.auth import ActorMiddleware
from portal.files import document_content
from portal.i18n import HTML_LANG, LANGUAGES, current_language, gettext_, ngettext_, translate
from portal.runtime import build_runtime
from portal.settings import Settings
from portal.web import (
    SecurityHeadersMiddleware,
    domain_error_handler,
    http_error_handler,
    internal_only,
    provide_actor,
    provide_services,
)
from trace_core.errors import DomainError
from trace_core.services import Runtime

PACKAGE = Path(__file__).resolve().parent
VERSION = "0.1.0"


def _configure_templates(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext_, ngettext_, newstyle=True)  # type: ignore[attr-defined]
    env.globals["LANGUAGES"] = LANGUAGES
    env.globals["HTML_LANG"] = HTML_LANG
    env.globals["language"] = current_language.get
    env.globals["switch_language_url"] = language.switch_url
    env.filters["translate"] = translate
    env.globals["version"] = VERSION
    env.filters["utc"] = lambda value: (
        value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""
    )
    env.filters["short"] = lambda value, n=12: (value or "")[:n]


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Litestar:
    """The application. Tests pass their own ``runtime`` (sessions bound to a test database)."""
    settings = settings or Settings.from_env()
    engine: AsyncEngine | None = None
    if runtime is None:
        runtime, engine = build_runtime(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if engine is not None:
                await engine.dispose()

    return Litestar(
        route_handlers=[
            pages.login_form,
            pages.login,
            pages.logout,
            pages.home,
            *language.ROUTES,
            *sso.ROUTES,
            *second_factor.ROUTES,
            *onboarding.ROUTES,
            *passwords.ROUTES,
            *supplier.ROUTES,
            *records.ROUTES,
            *account.ROUTES,
            Router(path="/", route_handlers=internal.ROUTES, guards=[internal_only]),
            *api.ROUTES,
            *api.EPCIS_ROUTES,
            document_content,
            create_static_files_router(
                path="/static", directories=[PACKAGE / "static"], include_in_schema=False
            ),
        ],
        dependencies={"services": Provide(provide_services), "actor": Provide(provide_actor)},
        middleware=[
            SecurityHeadersMiddleware(settings.secure_cookies),
            language.LanguageMiddleware(),
            ActorMiddleware(),
            passwords.PasswordAgeMiddleware(),
            second_factor.SecondFactorPolicyMiddleware(),
        ],
        exception_handlers={DomainError: domain_error_handler, HTTPException: http_error_handler},
        template_config=TemplateConfig(
            directory=PACKAGE / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=_configure_templates,
        ),
        csrf_config=CSRFConfig(
            secret=runtime.token_key.decode("utf-8", "replace"),
            cookie_name="traceport_csrf",
            header_name="x-csrftoken",
            cookie_secure=settings.secure_cookies,
            cookie_samesite="lax",
            exclude=["/api/", "/oauth/", "/epcis/", "/healthz"],
        ),
        openapi_config=OpenAPIConfig(
            title="Traceport API",
            version=VERSION,
            description="Machine API for suppliers' and our own systems. Authenticate with "
            "OAuth2 client credentials at POST /oauth/token and send the access token as a "
            "Bearer token.",
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
            path="/schema",
        ),
        request_max_body_size=settings.limits.max_upload_bytes + 1024 * 1024,
        state=State({"runtime": runtime, "settings": settings}),
        lifespan=[lifespan],
    )
