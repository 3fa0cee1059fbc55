# Release image of the sample app: Django served by gunicorn on port 80.
#
# BASE_IMAGE must be a Debian-like image with python3 (>= 3.10) and its venv module, and useradd/groupadd.
# Default: the official python:3.12-slim. Where Docker Hub is unreachable, the project builds with
# --build-arg BASE_IMAGE=local/python:3.11-bookworm (debootstrap'd Debian: no pip, no `python`, and a
# system Python marked externally managed), which is why everything goes into a venv created here.
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="sample-app" \
      org.opencontainers.image.description="Sample Django app shipped to Elastic Beanstalk (single-container Docker)" \
      org.opencontainers.image.licenses="MIT"

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=sampleapp.settings \
    WEB_CONCURRENCY=2

# The unprivileged account gunicorn's workers run as (the master binds port 80 as root, then forks them).
# Fixed ids, so that Dockerfile.test and hosts can refer to it numerically.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin app

# Dependencies first: this layer is reused as long as app/requirements.txt does not change.
WORKDIR /app
COPY app/requirements.txt ./requirements.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt

# Then the app itself (not its tests: Dockerfile.test adds those).
COPY app/manage.py ./
COPY app/sampleapp ./sampleapp

EXPOSE 80

# Last, so that a new version does not invalidate any layer above. `--build-arg APP_VERSION=<git sha>`
# bakes the version in; the home page shows it (an APP_VERSION set in the EB environment wins).
ARG APP_VERSION=""
ENV APP_VERSION=${APP_VERSION}
LABEL org.opencontainers.image.version="${APP_VERSION}"

# Workers drop to app:app; logs (access and error) go to stdout/stderr; no control socket is needed.
# WEB_CONCURRENCY sets the number of workers (EB environment variables can override it).
CMD ["gunicorn", "sampleapp.wsgi:application", \
     "--bind", "0.0.0.0:80", \
     "--user", "app", "--group", "app", \
     "--worker-tmp-dir", "/dev/shm", \
     "--access-logfile", "-", "--error-logfile", "-", \
     "--no-control-socket"]
