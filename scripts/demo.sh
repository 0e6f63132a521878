#!/usr/bin/env bash
# The main job on the embedded default (SQLite + FAISS, no server to install):
# ingest LFW into a local home, run one audited search from the CLI, create two demo
# accounts, then serve the API and web UI on 127.0.0.1:8000. Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
FS=.venv/bin/facesearch
export FACESEARCH_HOME="${FACESEARCH_HOME:-$PWD/demo-home}"
LFW="${FACESEARCH_LFW_DIR:-../shared/data/lfw}"

$FS models
if [ -d "$LFW/lfw-deepfunneled" ]; then
  $FS eval lfw --data "$LFW"
  $FS ingest "$LFW/lfw-deepfunneled" --label-from-dir --case DEMO-1 --purpose "demo gallery"
  $FS verify "$LFW/lfw-deepfunneled/Aaron_Peirsol/Aaron_Peirsol_000"{1,2}.jpg \
    --case DEMO-1 --purpose "demonstration verify"
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
    --case DEMO-1 --purpose "demonstration search" --report "$FACESEARCH_HOME/demo-report.html"
fi
exec $FS serve --host 127.0.0.1 --port "${PORT:-8000}"
