"""/api/v1/: the API, its OpenAPI document (/api/v1/openapi.json) and its documentation pages
(/api/v1/docs, served from the document, its scripts from static files)."""

from django.http import JsonResponse
from django.urls import path, re_path
from ninja import NinjaAPI

from api.auth import ApiKeyBearer
from api.endpoints import calls, campaigns, consents
from api.errors import StrictJsonParser, install_error_handlers

api = NinjaAPI(
    title="Outbound calls",
    version="1",
    description=(
        "Queue and follow a business's outbound calls. Authenticate with "
        "`Authorization: Bearer <key>` (`manage.py create_api_key`, or API keys in the admin). "
        "Every error is JSON: `{code, detail, errors}`."
    ),
    auth=ApiKeyBearer(),
    parser=StrictJsonParser(),
    urls_namespace="api-v1",
)
install_error_handlers(api)
api.add_router("", calls.router)
api.add_router("", campaigns.router)
api.add_router("", consents.router)


def not_found(request, rest=""):
    return JsonResponse(
        {"code": "not-found", "detail": "No such endpoint: see /api/v1/docs.", "errors": []},
        status=404,
    )


urlpatterns = [
    path("", api.urls),
    # Anything else under /api/v1/ answers JSON too, never an HTML page.
    re_path(r"^(?P<rest>.*)$", not_found),
]
