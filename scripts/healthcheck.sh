#!/usr/bin/env bash
# Exits 0 when the Maestro server at HOST:PORT (default 127.0.0.1:3000) answers GET /health
# with 200, else 1 with the reason on stderr. Needs nothing but bash, so the container's
# HEALTHCHECK runs it as is (/usr/local/bin/maestro-healthcheck in the image).
#
#   scripts/healthcheck.sh                  # 127.0.0.1:3000
#   scripts/healthcheck.sh 127.0.0.1:40123
set -uo pipefail

addr="${1:-127.0.0.1:3000}"
host="${addr%:*}"
port="${addr##*:}"
host="${host#[}"
host="${host%]}"

if ! { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
  echo "unhealthy: nothing listens on $addr" >&2
  exit 1
fi
printf 'GET /health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$addr" >&3
if ! IFS= read -r -t 5 status <&3; then
  echo "unhealthy: $addr did not answer within 5 s" >&2
  exit 1
fi
status="${status%$'\r'}"
case "$status" in
  "HTTP/1."?" 200 "*) exit 0 ;;
esac
# 503 carries the reason (the database) in its body.
body="$(timeout 5 cat <&3 2>/dev/null | tail -c 500)"
echo "unhealthy: $status ${body##*$'\r\n\r\n'}" >&2
exit 1
