# syntax=docker/dockerfile:1
# The Paredão API image: the same code runs the API (the default command), the migration
# (`python main.py migrate`) and the vote consumer (`python main.py consumer`).
#
#   docker build -t paredao:local .
#   docker compose up        (compose.yaml: PostgreSQL, Kafka, migration, API, consumer, NGINX)
#
# Pinned base: a patch release of Python 3.11 on Debian 12, the versions CI tests with.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# --- build: the dependencies in a virtualenv (wheels only, no compiler in the final image) ---
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --only-binary=:all: -r /tmp/requirements.txt

# --- runtime: the virtualenv and the code, run by an unprivileged user -----------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    # uvicorn --proxy-headers believes X-Forwarded-For only from these addresses: set it to
    # where the proxy runs (compose.yaml and deploy/k8s do). The default trusts nobody else.
    FORWARDED_ALLOW_IPS=127.0.0.1
RUN groupadd --system --gid 10001 paredao \
    && useradd --system --uid 10001 --gid paredao --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin paredao
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Owned by root, read-only for the app: the code cannot be changed by the process running it.
COPY . /app
USER 10001:10001
EXPOSE 8000
# Liveness of this process (no database round trip): /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
# SIGTERM: uvicorn stops taking requests, the vote writer stores the votes it took, then exits.
STOPSIGNAL SIGTERM
# JSON log lines on stderr, one per request (observability/logging.json), no uvicorn access log.
CMD ["uvicorn", "--factory", "main:create_app", "--host", "0.0.0.0", "--port", "8000", \
     "--proxy-headers", "--timeout-graceful-shutdown", "20", \
     "--log-config", "observability/logging.json", "--no-access-log"]
