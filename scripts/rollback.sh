#!/usr/bin/env bash
# Rolls Maestro back to the image that ran before the last scripts/deploy.sh
# (<image>:previous), keeping the current one as <image>:rolled-back, and waits until it
# reports healthy. The database stays as it is unless --restore-backup puts back the copy
# deploy.sh made before starting the new image (losing every write since).
#
#   scripts/rollback.sh                    # previous image, current database
#   scripts/rollback.sh --restore-backup   # also the database as it was before the deploy
#   scripts/rollback.sh --dry-run          # print the plan, run nothing
#
# See docs/deploy.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/deploy-lib.sh
. scripts/deploy-lib.sh

usage() { help_text "$0" "--dry-run, --restore-backup, --timeout SECONDS (default: MAESTRO_DEPLOY_TIMEOUT, else 90)"; }

RESTORE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --restore-backup) RESTORE=1 ;;
    --timeout) TIMEOUT=${2:?--timeout needs a number of seconds}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done

load_settings

[ "$DRY_RUN" = 1 ] && echo "Plan (--dry-run: nothing is run):"
preflight
if [ "$DRY_RUN" = 0 ] && ! image_exists "$(previous_image)"; then
  die "there is no $(previous_image) to roll back to (scripts/deploy.sh keeps one from the second deploy on)"
fi

step "stop the running server"
run "${COMPOSE[@]}" stop "$SERVICE"

step "switch $(current_image) to the previous image, keeping this one as $IMAGE:rolled-back"
if_image "$(current_image)" docker tag "$(current_image)" "$IMAGE:rolled-back"
run docker tag "$(previous_image)" "$(current_image)"

if [ "$RESTORE" = 1 ]; then
  step "restore the database backed up by the last deploy"
  restore_db
fi

step "start it"
run "${COMPOSE[@]}" up -d --no-build "$SERVICE"

step "wait for health"
if wait_healthy "$TIMEOUT"; then
  [ "$DRY_RUN" = 1 ] || echo "Rolled back to the previous image. Roll forward again with: docker tag $IMAGE:rolled-back $(current_image) && ${COMPOSE[*]} up -d --no-build"
  exit 0
fi
if [ "$RESTORE" = 0 ]; then
  die "the previous image did not become healthy; if its log says the database is newer than the code, the new image migrated it: run scripts/rollback.sh --restore-backup (writes since the deploy are lost)"
fi
die "the previous image did not become healthy on the restored database: see docs/troubleshooting.md"
