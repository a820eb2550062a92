"""What every machine-API route declares in OpenAPI besides its own answer: the bearer-token
security requirement and its error answers, each with the one error body (``ErrorOut``)."""

from __future__ import annotations

from litestar.openapi.datastructures import ResponseSpec

from portal.api.schemas import ErrorOut

#: The OAuth2 client-credentials bearer token (``/oauth/token``).
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def error_responses(**statuses: str) -> dict[int, ResponseSpec]:
    """OpenAPI responses for error statuses, named ``_409="why"``: every one answers
    ``ErrorOut``. Examples are not generated: the real error bodies are in ``docs/API.md``."""
    return {
        int(code[1:]): ResponseSpec(ErrorOut, description=text, generate_examples=False)
        for code, text in statuses.items()
    }
