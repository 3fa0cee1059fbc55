"""WSGI entry point; gunicorn serves ``sampleapp.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sampleapp.settings")

application = get_wsgi_application()
