# shellcheck shell=bash
# What scripts/deploy.sh and scripts/rollback.sh share: the plan printer (--dry-run), the
# compose command, settings from .env, image tags, the database backup and the health wait.
# Sourced, never run.

DRY_RUN=0
STEP=0
COMPOSE=(docker compose)
SERVICE=maestro
IMAGE=maestro
TIMEOUT=""
BACKUP_DIR=/data/backups/pre-deploy

# The comment block at the top of a script, then its options.
help_text() { # script options
  sed -n '2,/^[^#]/p' "$1" | sed '$d; s/^# \{0,1\}//'
  printf '\nOptions: %s\n' "$2"
}

# Announces the next step of the plan.
step() {
  STEP=$((STEP + 1))
  printf '%d. %s\n' "$STEP" "$*"
}

# Runs a command, or with --dry-run only shows it.
run() {
  printf '   $ %s\n' "$*"
  if [ "$DRY_RUN" = 0 ]; then
    "$@"
  fi
}

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# A setting: the environment, else .env, else the default.
setting() { # name default
  local name=$1 default=$2 value=""
  if [ -n "${!name:-}" ]; then
    value=${!name}
  elif [ -f .env ]; then
    value=$(sed -n "s/^$name=//p" .env | tail -n 1)
    value=${value%\"}
    value=${value#\"}
  fi
  printf '%s' "${value:-$default}"
}

# IMAGE and TIMEOUT (--timeout, else MAESTRO_DEPLOY_TIMEOUT, else 90 s), checked.
load_settings() {
  IMAGE=$(setting MAESTRO_IMAGE maestro)
  TIMEOUT=${TIMEOUT:-$(setting MAESTRO_DEPLOY_TIMEOUT 90)}
  case "$TIMEOUT" in
    '' | *[!0-9]*) die "--timeout must be a whole number of seconds, got '$TIMEOUT'" ;;
  esac
}

# Checks what a real run needs (skipped by --dry-run, which needs nothing).
preflight() {
  [ "$DRY_RUN" = 1 ] && return 0
  command -v docker >/dev/null || die "docker is not installed (https://docs.docker.com/engine/install/)"
  if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  elif command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose)
  else
    die "neither 'docker compose' nor 'docker-compose' is available: install the compose plugin"
  fi
  docker info >/dev/null 2>&1 || die "the docker daemon does not answer: start it, or check your permissions (docker info)"
  [ -f .env ] || die "no .env here: cp .env.example .env and set MAESTRO_TOKEN"
  [ -n "$(setting MAESTRO_TOKEN "")" ] || die "MAESTRO_TOKEN is empty in .env: set it (e.g. openssl rand -hex 32)"
}

image_exists() {
  docker image inspect "$1" >/dev/null 2>&1
}

# Runs a command when an image exists; with --dry-run, shows it with its condition.
if_image() { # image command...
  local image=$1
  shift
  if [ "$DRY_RUN" = 1 ]; then
    printf '   $ %s   # if %s exists\n' "$*" "$image"
  elif image_exists "$image"; then
    printf '   $ %s\n' "$*"
    "$@"
  else
    printf '   (no %s: skipped)\n' "$image"
  fi
}

# The command a one-off container of the service runs on the data volume, as the image's
# user, with the image the service currently points at.
on_volume() { # shell script
  "${COMPOSE[@]}" run --rm --no-deps -T --entrypoint bash "$SERVICE" -c "$1"
}

# Copies the stopped server's database (with its -wal and -shm files) aside.
backup_db() {
  local script="set -e; mkdir -p $BACKUP_DIR; rm -f $BACKUP_DIR/*; for f in /data/maestro.db /data/maestro.db-wal /data/maestro.db-shm; do [ ! -f \$f ] || cp -p \$f $BACKUP_DIR/; done; ls $BACKUP_DIR"
  if [ "$DRY_RUN" = 1 ]; then
    printf '   $ %s run --rm --no-deps -T --entrypoint bash %s -c "<copy /data/maestro.db* to %s>"   # if %s exists\n' \
      "${COMPOSE[*]}" "$SERVICE" "$BACKUP_DIR" "$(current_image)"
  elif image_exists "$(current_image)"; then
    printf '   $ (copy /data/maestro.db* to %s)\n' "$BACKUP_DIR"
    on_volume "$script"
  else
    printf '   (first deploy: nothing to back up)\n'
  fi
}

# Puts the backup made by backup_db back in place of the database.
restore_db() {
  local script="set -e; [ -f $BACKUP_DIR/maestro.db ] || { echo 'no backup in $BACKUP_DIR' >&2; exit 1; }; rm -f /data/maestro.db /data/maestro.db-wal /data/maestro.db-shm; cp -p $BACKUP_DIR/maestro.db* /data/"
  printf '   $ (copy %s/maestro.db* back to /data)\n' "$BACKUP_DIR"
  if [ "$DRY_RUN" = 0 ]; then
    on_volume "$script"
  fi
}

current_image() { printf '%s:current' "$IMAGE"; }
previous_image() { printf '%s:previous' "$IMAGE"; }

# Waits until the service's container reports healthy; fails early when it stops or turns
# unhealthy, and shows its last log lines then.
wait_healthy() { # timeout seconds
  local timeout=$1
  printf '   (wait up to %s s for the container to report healthy)\n' "$timeout"
  [ "$DRY_RUN" = 1 ] && return 0
  local id state health deadline=$((SECONDS + timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    id=$("${COMPOSE[@]}" ps -q "$SERVICE" 2>/dev/null || true)
    if [ -n "$id" ]; then
      state=$(docker inspect -f '{{.State.Status}}' "$id" 2>/dev/null || echo gone)
      health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null || true)
      case "$state/$health" in
        running/healthy)
          echo "   healthy"
          return 0
          ;;
        running/unhealthy | exited/* | dead/* | gone/*)
          echo "   the container is $state${health:+ ($health)}"
          break
          ;;
      esac
    fi
    sleep 2
  done
  [ "$SECONDS" -lt "$deadline" ] || echo "   not healthy after $timeout s"
  "${COMPOSE[@]}" logs --tail 30 "$SERVICE" >&2 || true
  return 1
}
