"""Settings of the sample app, read from environment variables only.

The container must start with no variables set at all: Elastic Beanstalk may start a new version before
anyone has configured the environment. So every setting has a default that works:

``DJANGO_DEBUG``   ``1`` turns Django's debug mode on. Default off.
``SECRET_KEY``     Django's signing key. Set it in the EB environment. When it is missing:
                   with ``DJANGO_DEBUG=1`` a fixed, publicly known development key is used; otherwise a random
                   key is generated at start-up (a warning goes to stderr). A random key is safe but not stable:
                   it differs per gunicorn worker and changes on every restart, which is harmless here because
                   the app signs nothing (no sessions, no forms, no database), but a real app must set it.
``ALLOWED_HOSTS``  Comma-separated host names Django answers for, e.g. ``myenv.eu-west-1.elasticbeanstalk.com``;
                   ``127.0.0.1`` and ``localhost`` (any port) are always added, for local smoke tests.
                   Default (unset or empty) ``*``: any host, which is what lets 127.0.0.1:<port>, the EB CNAME
                   and the load balancer's health checker (it sends the instance's IP as Host) all reach the app.
                   ``/health`` answers whatever the Host header (see ``sampleapp.middleware``).
``APP_VERSION``    Shown on the home page; read per request (see ``sampleapp.views``).

There is no database (``DATABASES`` is empty), no static files and no models.
"""

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Publicly known; only ever used with DJANGO_DEBUG=1.
INSECURE_DEV_SECRET_KEY = (
    "django-insecure-sample-app-development-key-do-not-use-in-production"
)


# Django compares ALLOWED_HOSTS without the port, so these accept any port.
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def env_flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def secret_key_from(environ: Mapping[str, str], debug: bool) -> str:
    """SECRET_KEY from the environment, else a dev key (debug) or a random per-process key (warned)."""
    key = environ.get("SECRET_KEY", "").strip()
    if key:
        return key
    if debug:
        return INSECURE_DEV_SECRET_KEY
    sys.stderr.write(
        "WARNING sampleapp: SECRET_KEY is not set; using a random key for this process. "
        "Set SECRET_KEY in the environment.\n"
    )
    return secrets.token_urlsafe(50)


def allowed_hosts_from(environ: Mapping[str, str]) -> list[str]:
    """ALLOWED_HOSTS from a comma-separated variable (plus the local hosts); unset or empty: any host."""
    hosts = [
        h.strip() for h in environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()
    ]
    if not hosts:
        return ["*"]
    return hosts + [h for h in LOCAL_HOSTS if h not in hosts]


DEBUG = env_flag(os.environ, "DJANGO_DEBUG")
SECRET_KEY = secret_key_from(os.environ, DEBUG)
ALLOWED_HOSTS = allowed_hosts_from(os.environ)

INSTALLED_APPS = ["sampleapp"]

MIDDLEWARE = [
    # First, so that /health answers before Host validation and everything else.
    "sampleapp.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sampleapp.urls"
WSGI_APPLICATION = "sampleapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]

# No database at all: nothing in the app needs one.
DATABASES: dict[str, dict[str, str]] = {}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# Everything goes to stdout, where Docker (and so Elastic Beanstalk) collects it.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain",
        },
    },
    "root": {
        "handlers": ["stdout"],
        "level": os.environ.get("LOG_LEVEL", "INFO").upper(),
    },
}
