#!/bin/sh
# A scripted Maestro worker: it does its task with maestro commands only, the way an LLM
# agent following the maestro-worker skill would (claim, plan subtasks, report, complete).
# Context comes from the host: MAESTRO_TASK_IDS, MAESTRO_SESSION_ID, MAESTRO_DB.
set -eu
M="${MAESTRO_BIN:-maestro}"
STEP="${MAESTRO_DEMO_STEP:-0.15}"
TASK="${MAESTRO_TASK_IDS%%,*}"

"$M" task claim "$TASK" -q >/dev/null
"$M" update "Read the brief; planning three steps" --task "$TASK" -q
for step in "Sketch the approach" "Do the work" "Check the result"; do
  sub=$("$M" subtask create "$TASK" "$step" -q)
  sleep "$STEP"
  "$M" subtask complete "$TASK" "$sub" -q >/dev/null
  "$M" update "$step: done" --task "$TASK" -q
done
"$M" task complete "$TASK" -q >/dev/null
echo "completed $TASK"
