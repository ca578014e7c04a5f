# shellcheck shell=bash
# Sourced by scripts/test-python and scripts/test-node: a throwaway PostgreSQL cluster for
# the binding tests that run on PostgreSQL. `start_test_postgres` exports
# MAESTRO_TEST_PG_URL (a fresh database) and MAESTRO_TEST_PG_REQUIRED=1, so those tests fail
# instead of skipping when the URL is missing. The cluster is the tests' own
# (tests/src/bin/test-postgres.rs: Debian's server binaries, as the end-to-end tests use);
# it stops when this shell exits, however it exits, because its standard input closes.
# A MAESTRO_TEST_PG_URL set by the caller is used as it is (the tests then create projects
# of their own in it).

start_test_postgres() {
  export MAESTRO_TEST_PG_REQUIRED=1
  if [ -n "${MAESTRO_TEST_PG_URL:-}" ]; then
    echo "PostgreSQL for the binding tests: $MAESTRO_TEST_PG_URL (given)"
    return
  fi
  local root target
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  target="${CARGO_TARGET_DIR:-$root/target}"
  (cd "$root" && cargo build -q -p maestro-tests --bin test-postgres)
  # The coprocess holds the cluster; its stdin is this shell's until the shell exits.
  coproc TEST_PG { "$target/debug/test-postgres" 2>&1; }
  local url=""
  if ! IFS= read -r -t 120 url <&"${TEST_PG[0]}" || [[ "$url" != postgres://* ]]; then
    echo "the PostgreSQL cluster for the binding tests did not start: $url" >&2
    return 1
  fi
  export MAESTRO_TEST_PG_URL="$url"
  echo "PostgreSQL for the binding tests: $MAESTRO_TEST_PG_URL"
}
