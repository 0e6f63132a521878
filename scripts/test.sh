#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (unit, integration with the real models on
# LFW, browser tests in Debian's chromium). Run from the repository root inside the venv
# made by the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

# Browser tests drive Debian's chromium through Playwright (Playwright's own browser download
# cannot work offline); install it when missing.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "WARNING: could not install chromium; browser tests will skip" >&2
  else
    echo "WARNING: chromium missing and not root; browser tests will skip" >&2
  fi
fi

# The case report test renders the PDF's first page with poppler's pdftoppm to look at it.
if ! command -v pdftoppm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null) \
      || echo "WARNING: could not install poppler-utils; the PDF page render will skip" >&2
  else
    echo "WARNING: pdftoppm missing and not root; the PDF page render will skip" >&2
  fi
fi

# The PostgreSQL tests start a throwaway cluster with Debian's postgresql (tests/pg_cluster.py).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
      || echo "WARNING: could not install postgresql; PostgreSQL tests will skip" >&2
  else
    echo "WARNING: postgresql missing and not root; PostgreSQL tests will skip" >&2
  fi
fi

# The replica tests put Debian's nginx in front of two `facesearch serve` (tests/replicas.py).
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null) \
      || echo "WARNING: could not install nginx; the replica tests will skip" >&2
  else
    echo "WARNING: nginx missing and not root; the replica tests will skip" >&2
  fi
fi

echo "== ruff"; .venv/bin/ruff check src tests benchmarks
echo "== mypy"; .venv/bin/mypy
echo "== pytest"
set +e
$PY -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
  # pytest's "no tests collected" (e.g. a -k filter that matches nothing) is not a failure.
  echo "pytest collected no tests (exit 5), treated as success" >&2
  exit 0
fi
exit $rc
