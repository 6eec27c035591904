"""Every error the API answers is JSON of one shape (schemas.ErrorOut), with a status its
OpenAPI document declares; nothing a client sends reaches Django's HTML error pages."""

import json

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from ninja.parser import Parser

from api.schemas import PATTERN_MESSAGES, ErrorOut

# The errors every operation may answer (besides its own).
COMMON_ERRORS = (400, 401, 413, 429)


class ApiError(Exception):
    """An answer other than success, raised by an endpoint or the API's own checks."""

    def __init__(self, status: int, code: str, detail: str, errors=None):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.errors = errors or []

    def body(self) -> dict:
        return ErrorOut(code=self.code, detail=self.detail, errors=self.errors).model_dump()

    @classmethod
    def invalid(cls, field: str, error: DjangoValidationError | str) -> "ApiError":
        message = error if isinstance(error, str) else " ".join(error.messages)
        return cls(400, "invalid", f"{field}: {message}", [{"field": field, "message": message}])


def responses(ok: dict, *errors: int) -> dict:
    """An operation's `response=`: its success schemas and every error it may answer."""
    return {**ok, **{code: ErrorOut for code in sorted({*COMMON_ERRORS, *errors})}}


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class StrictJsonParser(Parser):
    """JSON as RFC 8259 has it: Python's parser would take NaN and Infinity, which no database
    column or client can carry."""

    def parse_body(self, request):
        return json.loads(request.body, parse_constant=_no_constant)


def error_response(error: ApiError) -> JsonResponse:
    return JsonResponse(error.body(), status=error.status)


def _field_of(loc) -> str:
    # ("body", "payload", "lead", "name") → "lead.name"; ("path", "id") → "id"
    parts = [str(p) for p in loc[1:]]
    if parts and parts[0] == "payload":
        parts = parts[1:]
    return ".".join(parts) or str(loc[0])


def _message_of(error: dict) -> str:
    if error["type"] == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern")
        if pattern in PATTERN_MESSAGES:
            return PATTERN_MESSAGES[pattern]
    return error["msg"].removeprefix("Value error, ")


def install_error_handlers(api) -> None:
    @api.exception_handler(ApiError)
    def api_error(request, error: ApiError):
        return error_response(error)

    @api.exception_handler(ValidationError)
    def invalid(request, error: ValidationError):
        errors = [{"field": _field_of(e["loc"]), "message": _message_of(e)} for e in error.errors]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return error_response(ApiError(400, "invalid", detail or "Invalid request.", errors))

    @api.exception_handler(AuthenticationError)
    def unauthorized(request, error):
        response = error_response(
            ApiError(401, "unauthorized", "Give a live API key: Authorization: Bearer <key>.")
        )
        response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(Throttled)
    def throttled(request, error: Throttled):
        wait = int(error.wait or 1)
        response = error_response(
            ApiError(429, "throttled", f"Too many requests for this key: retry in {wait} s.")
        )
        response["Retry-After"] = str(wait)
        return response

    @api.exception_handler(Http404)
    def not_found(request, error):
        return error_response(ApiError(404, "not-found", "No such object for this key."))

    @api.exception_handler(HttpError)
    def http_error(request, error: HttpError):
        # django-ninja's own: a body that is not JSON (400).
        code = "invalid" if error.status_code == 400 else "error"
        return error_response(ApiError(error.status_code, code, str(error)))

    @api.exception_handler(RequestDataTooBig)
    def too_large(request, error):
        return error_response(
            ApiError(413, "too-large", "The body is larger than this API accepts.")
        )
