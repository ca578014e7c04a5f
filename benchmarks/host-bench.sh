#!/usr/bin/env bash
# Host benchmarks: spawn latency, memory with 20 live agents, leaks over 100 spawns.
# Usage: benchmarks/host-bench.sh [path/to/maestro]   (default: target/release/maestro)
set -euo pipefail
M="$(realpath "${1:-target/release/maestro}")"
command -v python3 >/dev/null || { echo "needs python3" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export HOME="$WORK/home" MAESTRO_HOME="$WORK/mhome" MAESTRO_DB="$WORK/m.db" NO_COLOR=1
mkdir -p "$HOME" "$MAESTRO_HOME/marks"
cd "$WORK"
"$M" init --name bench -q >/dev/null
T=$("$M" task create "bench" -q)
# probe: records the time its first instruction runs; sleeper: stays alive; noop: exits.
"$M" config set agents.probe.command '["sh","-c","date +%s%N > \"$MAESTRO_HOME/marks/$MAESTRO_SESSION_ID\""]' --global >/dev/null
"$M" config set agents.sleeper.command '["sleep","60"]' --global >/dev/null
"$M" config set agents.noop.command '["true"]' --global >/dev/null

start_host() { "$M" host --max-concurrent "$1" --agent noop -q > "$WORK/host.out" 2>&1 & HOST=$!; sleep 0.5; }
stop_host() { kill -TERM "$HOST"; wait "$HOST" || true; }
wait_status() { # wait until no session is spawning/starting/active (or N active with $2)
  for _ in $(seq 1 600); do
    n=$("$M" session list --active -q | grep -c . || true)
    if [ "$n" -eq "$1" ]; then return 0; fi
    sleep 0.05
  done
  echo "timeout waiting for $1 active sessions" >&2; return 1
}

echo "== 1. spawn request -> agent process running (50 sequential spawns)"
start_host 4
: > "$WORK/lat.txt"
for _spawn in $(seq 1 50); do
  t0=$(date +%s%N)
  s=$("$M" session spawn --task "$T" --agent probe -q)
  for _ in $(seq 1 400); do [ -s "$MAESTRO_HOME/marks/$s" ] && break; sleep 0.005; done
  t1=$(cat "$MAESTRO_HOME/marks/$s")
  echo $(( (t1 - t0) / 1000 )) >> "$WORK/lat.txt"
done
wait_status 0
python3 - "$WORK/lat.txt" <<'EOF'
import sys, statistics
v = sorted(int(x) / 1000 for x in open(sys.argv[1]))
q = lambda p: v[min(len(v) - 1, int(p * len(v)))]
print(f"   spawn command started -> agent running: p50 {q(.5):.1f} ms  p90 {q(.9):.1f} ms  max {v[-1]:.1f} ms  (n={len(v)})")
EOF
"$M" session list --json | python3 -c '
import json, sys
from datetime import datetime
d = json.load(sys.stdin)["data"]
ms = sorted((datetime.fromisoformat(s["startedAt"].replace("Z","+00:00")) - datetime.fromisoformat(s["createdAt"].replace("Z","+00:00"))).total_seconds() * 1000 for s in d if s.get("startedAt"))
print(f"   request committed -> pid recorded (store): p50 {ms[len(ms)//2]:.1f} ms  max {ms[-1]:.1f} ms  (n={len(ms)})")'
stop_host

echo "== 2. host memory with 20 live agents"
start_host 20
rss0=$(awk '/VmRSS/ {print $2}' /proc/$HOST/status)
for _ in $(seq 1 20); do "$M" session spawn --task "$T" --agent sleeper -q >/dev/null; done
wait_status 20
sleep 0.5
rss=$(awk '/VmRSS/ {print $2}' /proc/$HOST/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$HOST/status)
echo "   host RSS idle ${rss0} kB; with 20 live agents ${rss} kB (peak ${hwm} kB)"
# The sleepers lead their own process groups.
for p in $("$M" session list --active --json | python3 -c 'import json,sys; print(" ".join(str(s["pid"]) for s in json.load(sys.stdin)["data"] if s.get("pid")))'); do
  kill -TERM -- "-$p" 2>/dev/null || true
done
wait_status 0
stop_host

echo "== 3. 100 spawns in a row: leaked processes and file descriptors"
start_host 8
fd0=$(ls /proc/$HOST/fd | wc -l)
for _ in $(seq 1 100); do "$M" session spawn --task "$T" --agent noop -q >/dev/null; done
wait_status 0
sleep 0.3
fd1=$(ls /proc/$HOST/fd | wc -l)
children=$( (ps --ppid "$HOST" -o pid= || true) | wc -l)
zombies=$( (ps --ppid "$HOST" -o stat= || true) | grep -c Z || true)
done_n=$("$M" session list --status completed --limit 1000 -q | grep -c . || true)
echo "   host fds before ${fd0}, after ${fd1}; child processes left ${children} (zombies ${zombies}); sessions completed ${done_n}"
stop_host
