# SES Gateway: `docker build -t ses-gateway .`  (see docs/operations.md#docker)
#
# The base image is pinned by version and by the digest of its multi-architecture index, and the
# Python packages by requirements/*.lock (exact versions and hashes), so two builds a month apart
# get the same bits: docs/operations.md#updating-dependencies-and-images says how to refresh both.
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# Which lock: `runtime` (the gateway), or `emulator` for the image of docker-compose.demo.yml
# (`serve --dev`, with moto's SES emulator).
ARG LOCK=runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# As scripts/install does: the locked packages, each file checked against its hash; then the
# gateway without dependencies, built by the locked setuptools.  The sources are not kept.
COPY requirements/${LOCK}.lock /tmp/requirements.lock
RUN pip install --require-hashes -r /tmp/requirements.lock && rm /tmp/requirements.lock
COPY pyproject.toml README.md /src/
COPY config /src/config
COPY gateway /src/gateway
COPY admin /src/admin
RUN pip install --no-deps --no-build-isolation /src && rm -rf /src

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/gateway \
        --shell /usr/sbin/nologin gateway \
    && mkdir -p /data \
    && chown gateway:gateway /data

# Data (certificate, secret key, SQLite when DATABASE_URL is unset) in a volume; listen on every
# interface of the container.
ENV SES_GATEWAY_DATA_DIR=/data \
    SES_GATEWAY_SMTP_HOST=0.0.0.0 \
    SES_GATEWAY_HTTP_HOST=0.0.0.0
VOLUME ["/data"]
WORKDIR /home/gateway
USER gateway

# 2587: SMTP with STARTTLS, 2465: implicit TLS, 8025: HTTP (/healthz, /readyz)
EXPOSE 2587 2465 8025

# No curl in the slim image: ask /healthz with Python (any error or non-2xx exits 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SES_GATEWAY_HTTP_PORT', '8025') + '/healthz', timeout=4)"]

CMD ["ses-gateway", "serve"]
