#!/usr/bin/env bash
# The distributed deployment on one machine: PostgreSQL, the Milvus standalone server, Ray
# ingest of LFW, two `facesearch serve` replicas behind Debian's nginx on one port; a search
# on one replica and its confirmation on the other; then where to log in. Ctrl-C stops it all.
#   bash scripts/distributed-demo.sh [--limit N] [--port 8000] [--no-wait]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q --disable-pip-version-check '.[distributed]' 'milvus==2.3.5'
for pkg in postgresql nginx; do
  bin=$([ "$pkg" = nginx ] && echo nginx || echo initdb)
  if ! command -v "$bin" >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/"$bin" /usr/sbin/"$bin" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
    else
      echo "Debian's $pkg is needed: sudo apt-get install $pkg" >&2; exit 2
    fi
  fi
done
exec .venv/bin/python -m facesearch.devcluster.demo "$@"
