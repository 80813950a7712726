# gridwatch application image (production path; see docker-compose.yml).
FROM python:3.11-slim-bookworm

# nodejs/npm: front-end assets; pango and the Noto CJK fonts: PDF dossiers (WeasyPrint);
# postgresql-client: pg_dump/pg_restore for `gridwatch backup`/`restore`, psql for the
# migrate step of docker-compose.prod.yml (Debian 12's client is PostgreSQL 15, as the server).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
    libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk postgresql-client \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/gridwatch
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
COPY geodata ./geodata
COPY map_ui ./map_ui
RUN pip install --no-cache-dir -e . \
 && cd map_ui && (npm ci --no-audit --no-fund || npm install --no-audit --no-fund)

# GRIDWATCH_WORKERS: server processes per container (`gridwatch serve --workers`);
# GRIDWATCH_LOG_FORMAT=json: one JSON object per log line, for the log collector.
ENV GRIDWATCH_ENV=production \
    GRIDWATCH_WORKERS=2 \
    GRIDWATCH_LOG_FORMAT=json \
    GRIDWATCH_DATA_DIR=/var/lib/gridwatch \
    GRIDWATCH_PHOTO_DIR=/var/lib/gridwatch/photos
RUN useradd --system --home /var/lib/gridwatch gridwatch \
 && mkdir -p /var/lib/gridwatch/photos && chown -R gridwatch /var/lib/gridwatch
USER gridwatch
EXPOSE 8000
CMD ["sh", "-c", "gridwatch migrate && gridwatch serve --host 0.0.0.0 --port 8000"]
