# SES Gateway: `docker build -t ses-gateway .`  (see docs/operations.md#docker)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the package (without the dev emulator); the sources are not kept.
COPY pyproject.toml README.md /src/
COPY config /src/config
COPY gateway /src/gateway
COPY admin /src/admin
RUN pip install /src && rm -rf /src

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
