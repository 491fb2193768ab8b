# syntax=docker/dockerfile:1
#
# One image for the whole system: permit-svc, quota-svc, eia-svc,
# supervision-svc and the
# `bureau` CLI.
#
#   docker build -t envbureau:0.1.0 .
#   docker run -p 8000:8000 envbureau:0.1.0            # embedded default (SQLite, in-process events)
#   docker run ... envbureau:0.1.0 python -m quota_svc  # one service, configured by env
#
# docker-compose.yml and deploy/k8s start each service with
# `command: ["python", "-m", "<service>_svc"]`; tests/test_deploy_manifests.py
# checks this file (uv.lock, --frozen, non-root USER) and those commands.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build stage
FROM ${PYTHON_IMAGE} AS build

ARG UV_VERSION=0.13.8
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

# Compile bytecode at build time (the runtime file system may be read-only),
# copy rather than hard-link out of the cache mount, never download a Python:
# the venv is made with this image's /usr/local/bin/python3.11, which the
# runtime stage has at the same path.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

# 1) Third-party dependencies only, from the lock. This layer is rebuilt only
#    when uv.lock or a pyproject.toml changes, not on every source edit.
#    --frozen: install exactly uv.lock, never re-resolve. The workspace's
#    pyproject.toml files are all needed so uv can see the members.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/pyproject.toml
COPY services/permit-svc/pyproject.toml services/permit-svc/pyproject.toml
COPY services/quota-svc/pyproject.toml services/quota-svc/pyproject.toml
COPY services/eia-svc/pyproject.toml services/eia-svc/pyproject.toml
COPY services/supervision-svc/pyproject.toml services/supervision-svc/pyproject.toml
COPY sim/pyproject.toml sim/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --no-editable

# 2) The workspace itself: the root project `env-bureau` (the `bureau` CLI,
#    src/bureau) depends on svc-common and the three services. --no-editable
#    installs them as real packages into the venv (migrations included), so
#    the runtime stage needs nothing but /app/.venv.
COPY libs/ libs/
COPY services/ services/
COPY src/ src/
# The simulator is a member of the workspace but a development tool: present
# for uv to read the workspace, not installed (--no-dev).
COPY sim/ sim/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable
# Fail the build, not the first deployment, if a package was built empty
# (a wrong COPY still lets the sync above succeed).
RUN /app/.venv/bin/python -c "import bureau.cli, permit_svc.app, quota_svc.app, eia_svc.app, supervision_svc.app"

# -------------------------------------------------------------- runtime stage
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="envbureau" \
      org.opencontainers.image.description="permit-svc, quota-svc, eia-svc and supervision-svc of the city environment bureau" \
      org.opencontainers.image.version="0.1.0"

# A fixed numeric uid/gid, so Kubernetes can verify runAsNonRoot.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app

WORKDIR /app
# Owned by root and read-only for the app user: nothing in the venv is written at run time.
COPY --from=build /app/.venv /app/.venv
# Only the embedded default writes files (its SQLite databases under DATA_DIR).
RUN mkdir -p /app/data && chown app:app /app/data

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/app/data

USER 10001:10001

EXPOSE 8000

# slim has no curl; every service and the embedded runner answer /ready.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=5 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/ready' % os.environ.get('PORT', '8000'), timeout=4)" || exit 1

# The embedded default: all four services in one process on $PORT.
CMD ["bureau", "run", "--host", "0.0.0.0"]
