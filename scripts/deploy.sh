#!/usr/bin/env bash
# Deploys Maestro with docker compose: builds the image, keeps the running one as
# <image>:previous, backs up the database, starts the new image and waits until it reports
# healthy. When it does not, rolls back: the previous image on the backed-up database.
#
#   scripts/deploy.sh                      # deploy what is checked out here
#   scripts/deploy.sh --dry-run            # print the plan, run nothing
#   scripts/deploy.sh --tag v0.2.0 --timeout 120
#
# Needs docker with the compose plugin (or docker-compose) and a .env with MAESTRO_TOKEN
# (cp .env.example .env). See docs/deploy.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/deploy-lib.sh
. scripts/deploy-lib.sh

usage() { help_text "$0" "--dry-run, --tag TAG (default: the git commit), --timeout SECONDS (default: MAESTRO_DEPLOY_TIMEOUT, else 90)"; }

TAG=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --tag) TAG=${2:?--tag needs a value}; shift ;;
    --timeout) TIMEOUT=${2:?--timeout needs a number of seconds}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done

load_settings
if [ -z "$TAG" ]; then
  TAG=$(git rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)
  if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
    TAG="$TAG-dirty"
  fi
fi
NEW="$IMAGE:$TAG"

[ "$DRY_RUN" = 1 ] && echo "Plan (--dry-run: nothing is run):"
preflight

step "build $NEW"
run docker build --pull -t "$NEW" .

step "stop the running server and back up its database"
if_image "$(current_image)" "${COMPOSE[@]}" stop "$SERVICE"
backup_db

step "keep the running image as $(previous_image)"
if_image "$(current_image)" docker tag "$(current_image)" "$(previous_image)"

step "start $NEW"
run docker tag "$NEW" "$(current_image)"
run "${COMPOSE[@]}" up -d --no-build "$SERVICE"

step "wait for health"
roll_back() {
  step "roll back: $(previous_image) on the database as it was before this deploy"
  if [ "$DRY_RUN" = 0 ] && ! image_exists "$(previous_image)"; then
    die "$NEW is not healthy and there is no previous image to roll back to: see the log above"
  fi
  run "${COMPOSE[@]}" stop "$SERVICE"
  run docker tag "$(previous_image)" "$(current_image)"
  restore_db
  run "${COMPOSE[@]}" up -d --no-build "$SERVICE"
  wait_healthy "$TIMEOUT"
}
if [ "$DRY_RUN" = 1 ]; then
  wait_healthy "$TIMEOUT"
  echo "If it does not become healthy in time:"
  roll_back
  exit 0
fi
if wait_healthy "$TIMEOUT"; then
  echo "Deployed $NEW ($(current_image)). Roll back with scripts/rollback.sh."
  exit 0
fi
if roll_back; then
  die "$NEW did not become healthy; rolled back to the previous image, which is serving"
fi
die "$NEW did not become healthy, and neither did the previous image: see docs/troubleshooting.md"
