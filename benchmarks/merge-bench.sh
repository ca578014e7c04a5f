#!/bin/sh
# One merge through the merge queue, end to end: `maestro merge <task>` with a local store
# (queue the task, take it, rebase in a pooled worktree, gate `true`, compare-and-swap of
# main, the user's clean checkout brought along, the outcome and its events recorded).
#
#   cargo build --release -p maestro-cli
#   sh benchmarks/merge-bench.sh [RUNS] [FILES]
#
# Each run's task was done first by a scripted worker under a real `maestro host` (its
# worktree created, its file written, the host's commit of what it left); only the
# `maestro merge` call is timed. Prints one line per run, then the median and the p90.
set -eu
RUNS=${1:-10}
FILES=${2:-10000}
M=${MAESTRO_BIN:-$(pwd)/target/release/maestro}
[ -x "$M" ] || { echo "build it first: cargo build --release -p maestro-cli" >&2; exit 1; }
DIR=$(mktemp -d)
trap 'kill "$HOST" 2>/dev/null || true; rm -rf "$DIR"' EXIT
export HOME="$DIR/home" MAESTRO_HOME="$DIR/mh"
mkdir -p "$HOME" "$DIR/work/repo"
cd "$DIR/work"
"$M" init --name bench -q >/dev/null
cd repo
git init -q -b main
i=0
while [ $i -lt "$FILES" ]; do
  d=$((i % 100)); mkdir -p "src/d$d"; echo "pub fn f$i() -> u32 { $i }" > "src/d$d/f$i.rs"; i=$((i+1))
done
git add . && git -c user.name=b -c user.email=b@b commit -qm init
cd ..
cat > "$DIR/worker.sh" <<'EOF'
set -eu
T="${MAESTRO_TASK_IDS%%,*}"
maestro task claim "$T" -q >/dev/null
echo "$T" > "task-$T.txt"
maestro task complete "$T" -q >/dev/null
EOF
"$M" config set agents.w "{\"command\":[\"sh\",\"$DIR/worker.sh\"]}" -q
"$M" config set merge.gate true -q
"$M" host --max-concurrent 2 -q >/dev/null 2>&1 &
HOST=$!
tasks=""
n=0
while [ $n -lt "$RUNS" ]; do
  t=$("$M" task create "bench $n" -q)
  "$M" session spawn --task "$t" --agent w --cwd repo -q >/dev/null
  tasks="$tasks $t"; n=$((n+1))
done
tries=0
until [ "$("$M" task list --status completed -q | grep -c . || true)" -eq "$RUNS" ] \
  && [ -z "$("$M" session list --active -q)" ]; do
  tries=$((tries+1)); [ $tries -lt 3000 ] || { echo "workers did not finish" >&2; exit 1; }
  sleep 0.1
done
kill -TERM "$HOST"; wait "$HOST" 2>/dev/null || true
for t in $tasks; do
  s=$(date +%s%N)
  "$M" merge "$t" --json > "$DIR/out.json"
  e=$(date +%s%N)
  grep -q '"result":"merged"' "$DIR/out.json" || { cat "$DIR/out.json" >&2; exit 1; }
  echo $(( (e - s) / 1000000 ))
done | sort -n > "$DIR/ms"
cat "$DIR/ms" | tr '\n' ' '; echo
awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; p=a[int(NR*0.9+0.999)]; printf "median %d ms, p90 %d ms, min %d ms (%d runs, %d files)\n", m, p, a[1], NR, '"$FILES"'}' "$DIR/ms"
