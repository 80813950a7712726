#!/usr/bin/env bash
# Install what gridwatch needs from the operating system, if missing: PostgreSQL + PostGIS
# (for the embedded database), Node.js + npm (front-end assets), python3.11 with venv,
# Chromium and CJK fonts (browser tests), LibreOffice Calc (export tests), pango (PDF
# dossiers through WeasyPrint), poppler-utils (PDF tests) and docker-compose (compose checks).
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -euo pipefail

missing=()
have_postgis() {
  for bin in /usr/lib/postgresql/*/bin/initdb; do
    [ -x "$bin" ] || continue
    v=$(basename "$(dirname "$(dirname "$bin")")")
    [ -f "/usr/share/postgresql/$v/extension/postgis.control" ] && [ -f "/usr/share/postgresql/$v/extension/ltree.control" ] && return 0
  done
  return 1
}

if [ -z "${GRIDWATCH_DATABASE_URL:-}" ] && ! have_postgis; then
  missing+=(postgresql postgresql-contrib postgis)
fi
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
# Browser tests drive Debian's Chromium (never a downloaded browser); CJK fonts for screenshots.
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || missing+=(fonts-noto-cjk)
# PDF dossiers (WeasyPrint) lay text out with pango; Chinese needs the Noto CJK fonts above.
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib libpango-1.0.so.0 || missing+=(libpango-1.0-0)
have_lib libpangoft2-1.0.so.0 || missing+=(libpangoft2-1.0-0)
# Tests read the PDFs back (pdftotext, pdffonts) and docs render a page (pdftoppm).
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
# Tests check that exported XLSX files convert with LibreOffice (what many offices open them in).
command -v libreoffice >/dev/null 2>&1 || missing+=(libreoffice-calc-nogui)
# Tests validate the compose files with Debian's docker-compose (`config` needs no daemon).
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
# `make test-pgbouncer` only: the suite through PgBouncer in transaction mode.
if [ "${GRIDWATCH_WITH_PGBOUNCER:-}" = 1 ] && ! [ -x /usr/sbin/pgbouncer ] && ! command -v pgbouncer >/dev/null 2>&1; then
  missing+=(pgbouncer)
fi
if ! command -v python3.11 >/dev/null 2>&1; then
  missing+=(python3.11 python3.11-venv)
elif ! python3.11 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3.11-venv)
fi

[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "gridwatch needs system packages: ${missing[*]}" >&2
  echo "run this as root, then try again:" >&2
  echo "  sudo sh -c '$cmd'" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
sh -c "$cmd"
if [ -z "${GRIDWATCH_DATABASE_URL:-}" ] && ! have_postgis; then
  # The `postgis` metapackage follows Debian's default PostgreSQL; make sure the server
  # version that is installed has its own PostGIS build.
  v=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "postgresql-$v-postgis-3"
fi
