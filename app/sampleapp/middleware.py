"""Answers ``/health`` before anything else runs.

Django validates the Host header against ALLOWED_HOSTS in CommonMiddleware. Elastic Beanstalk's load
balancer health checker sends the instance's private IP as Host, so with a restricted ALLOWED_HOSTS a
routed health view would answer 400 and EB would mark the environment unhealthy. This middleware is
first in MIDDLEWARE and needs neither a valid Host nor a database.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from sampleapp import views


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/health" and request.method in ("GET", "HEAD"):
            return views.health(request)
        return self.get_response(request)
