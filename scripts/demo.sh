#!/usr/bin/env bash
# The main job on the embedded default (SQLite + FAISS, no server to install):
# ingest LFW into a local home, run one audited search from the CLI, create two demo
# accounts, then serve the API and web UI on 127.0.0.1:8000. Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
FS=.venv/bin/facesearch
export FACESEARCH_HOME="${FACESEARCH_HOME:-$PWD/demo-home}"
LFW="${FACESEARCH_LFW_DIR:-../shared/data/lfw}"

# The demo's case: DEMO-1, or the first DEMO-n not closed (a user may have closed it). It is
# opened only where the registry needs it: once it holds any case, every search must name an
# open one (an empty registry asks for none, and the demo does not start one).
demo_case() {
  $FS cases list --json 2>/dev/null | .venv/bin/python -c '
import json, sys
cases = {c["number"]: c["status"] for c in map(json.loads, filter(str.strip, sys.stdin))}
n = 1
while cases.get(f"DEMO-{n}", "open") != "open":
    n += 1
print(f"DEMO-{n}", "open" if cases and f"DEMO-{n}" not in cases else "as-is")
'
}
read -r CASE CASE_STATE < <(demo_case || echo "DEMO-1 as-is")
if [ "$CASE_STATE" = open ]; then
  $FS cases open "$CASE" --title "facesearch demo" || echo "could not open case $CASE" >&2
fi
# A step under the case that is refused (the case closed meanwhile ...) is skipped with the
# reason; the demo goes on to serve.
skip() { echo "demo: skipped the $1 under case $CASE (see the error above); going on" >&2; }

$FS models
if [ -d "$LFW/lfw-deepfunneled" ]; then
  $FS eval lfw --data "$LFW"
  $FS ingest "$LFW/lfw-deepfunneled" --label-from-dir --case "$CASE" --purpose "demo gallery" ||
    skip ingest
  $FS verify "$LFW/lfw-deepfunneled/Aaron_Peirsol/Aaron_Peirsol_000"{1,2}.jpg \
    --case "$CASE" --purpose "demonstration verify" || [ $? -eq 1 ] || skip verification
else
  echo "LFW not found at $LFW: ingest your own photos with '$FS ingest PATH'" >&2
fi
$FS stats

pass_file="$FACESEARCH_HOME/demo-passwords.txt"
if [ ! -f "$pass_file" ]; then
  umask 077
  admin_pw=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))')
  inv1_pw=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))')
  inv2_pw=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))')
  printf '%s\n' "$admin_pw" | $FS users add admin --role admin --password-stdin
  printf '%s\n' "$inv1_pw" | $FS users add alice --role investigator --password-stdin
  printf '%s\n' "$inv2_pw" | $FS users add bob --role investigator --password-stdin
  printf 'admin %s\nalice %s\nbob %s\n' "$admin_pw" "$inv1_pw" "$inv2_pw" > "$pass_file"
fi
echo
echo "Demo accounts (also in $pass_file):"
sed 's/^/  /' "$pass_file"
if [ -d "$LFW/lfw-deepfunneled" ]; then
  $FS search "$LFW/lfw-deepfunneled/Colin_Powell/Colin_Powell_0001.jpg" --top 5 \
    --case "$CASE" --purpose "demonstration search" \
    --report "$FACESEARCH_HOME/demo-report.html" || skip search
fi
exec $FS serve --host 127.0.0.1 --port "${PORT:-8000}"
