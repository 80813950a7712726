# gridwatch application image (production path; see docker-compose.yml).
FROM python:3.11-slim-bookworm

# nodejs/npm: front-end assets; pango and the Noto CJK fonts: PDF dossiers (WeasyPrint).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
    libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/gridwatch
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
COPY geodata ./geodata
COPY map_ui ./map_ui
RUN pip install --no-cache-dir -e . \
 && cd map_ui && (npm ci --no-audit --no-fund || npm install --no-audit --no-fund)

ENV GRIDWATCH_ENV=production \
    GRIDWATCH_DATA_DIR=/var/lib/gridwatch \
    GRIDWATCH_PHOTO_DIR=/var/lib/gridwatch/photos
RUN useradd --system --home /var/lib/gridwatch gridwatch \
 && mkdir -p /var/lib/gridwatch/photos && chown -R gridwatch /var/lib/gridwatch
USER gridwatch
EXPOSE 8000
CMD ["sh", "-c", "gridwatch migrate && gridwatch serve --host 0.0.0.0 --port 8000"]
