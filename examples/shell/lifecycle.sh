#!/usr/bin/env bash
# The agent lifecycle with nothing but `maestro … --json` and jq:
# plan A ← B ← C, claim and finish A, block B, and check the counts.
set -euo pipefail

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export HOME="$work/home" MAESTRO_JSON=1
unset MAESTRO_DB MAESTRO_SESSION_ID MAESTRO_TASK_IDS MAESTRO_PROJECT_ID

data() { jq -r "$1"; }
expect() { if [ "$1" != "$2" ]; then echo "expected '$2', got '$1'" >&2; exit 1; fi; }

maestro init --name lifecycle | data .data.project.id >/dev/null
A=$(maestro task create "Design the schema" --priority high | data .data.id)
B=$(maestro task create "Write the API" --depends-on "$A" | data .data.id)
C=$(maestro task create "Ship it" --depends-on "$B" | data .data.id)

expect "$(maestro task ready | data '[.data[].id] | join(",")')" "$A"

set +e
out=$(maestro task start "$B"); code=$?
set -e
expect "$code" 4
expect "$(echo "$out" | data .error)" dependencies_incomplete

set +e
out=$(maestro task update "$A" --add-dep "$C"); code=$?
set -e
expect "$code" 4
expect "$(echo "$out" | data '.details.cycle | length')" 4

MAESTRO_SESSION_ID=$(maestro session register --name worker-1 | data .data.id)
export MAESTRO_SESSION_ID
expect "$(maestro task claim --next | data .data.id)" "$A"
maestro update "Schema drafted" --task "$A" >/dev/null
S=$(maestro subtask create "$A" "Add indexes" | data .data.id)
expect "$(maestro subtask list "$A" | data '.data | length')" 1
maestro subtask complete "$A" "$S" >/dev/null
maestro task complete "$A" >/dev/null
expect "$(maestro task ready | data '[.data[].id] | join(",")')" "$B"
maestro task block "$B" --reason "Waiting for API keys" >/dev/null

status=$(maestro status)
expect "$(echo "$status" | data .data.tasks.byStatus.completed)" 1
expect "$(echo "$status" | data .data.tasks.byStatus.blocked)" 1
expect "$(echo "$status" | data .data.tasks.byStatus.pending)" 1
expect "$(echo "$status" | data .data.tasks.ready)" 0

detail=$(maestro task get "$A")
expect "$(echo "$detail" | data '.data.subtasks[0].completed')" true
expect "$(echo "$detail" | data '.data.dependents[0].id')" "$B"
expect "$(echo "$detail" | data '[.data.timeline[].type] | index("progress") != null')" true

echo "lifecycle ok: $A completed, $B blocked, $C pending"
