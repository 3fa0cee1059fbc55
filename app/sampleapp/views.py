import os

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

DEFAULT_VERSION = "unknown"


def app_version() -> str:
    """The version to show: APP_VERSION from the environment, read per request."""
    return os.environ.get("APP_VERSION", "").strip() or DEFAULT_VERSION


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "sampleapp/index.html", {"version": app_version()})


@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """Liveness for EB's health checks: no database, no templates, no Host validation (see middleware)."""
    response = JsonResponse({"status": "ok"})
    # Answered before CommonMiddleware, which would otherwise set it.
    response["Content-Length"] = str(len(response.content))
    if request.method == "HEAD":
        response.content = b""
    return response
