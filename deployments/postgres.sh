#!/usr/bin/env bash
# Start or stop a private, throwaway PostgreSQL cluster for the test suite.
#
#   deployments/postgres.sh [start] [DIR]   start (idempotent); prints the SQLAlchemy URL on stdout
#   deployments/postgres.sh stop    [DIR]   stop the cluster (fast shutdown)
#   deployments/postgres.sh status  [DIR]   exit 0 if it is accepting connections
#   deployments/postgres.sh url     [DIR]   print the URL without starting anything
#   deployments/postgres.sh reset   [DIR]   drop and recreate the test database; prints the URL
#   deployments/postgres.sh destroy [DIR]   stop and delete DIR's cluster
#   deployments/postgres.sh owner-url [DIR] print the URL of the governance database as its owner
#   deployments/postgres.sh app-url   [DIR] print the same database's URL as the application role
#   deployments/postgres.sh gateway-url [DIR] ... as the gateway's role
#   deployments/postgres.sh auditor-url [DIR] ... as the read-only auditor's role
#
# DIR defaults to $GOVERNANCE_PG_DIR or /tmp/governance-pg. The port is $PGPORT_TEST (default 55432),
# the database $PGDATABASE_TEST (default governance_test). Only the URL goes to stdout, so
#     export GOVERNANCE_TEST_POSTGRES_URL="$(deployments/postgres.sh)"
# works. Uses Debian's binaries (/usr/lib/postgresql/<newest>/bin) or whatever is on PATH.
# start also makes four roles and a database `governance` owned by the first: governance_owner
# runs the migrations, governance_app runs the application and cannot change the audit trail,
# governance_gateway reads routing and appends predictions and outcomes, governance_auditor
# reads all but the TOTP secrets and sessions. init grants each its rights:
#     GOVERNANCE_DATABASE_URL="$(deployments/postgres.sh owner-url)" \
#       GOVERNANCE_APP_ROLE=governance_app GOVERNANCE_GATEWAY_ROLE=governance_gateway \
#       GOVERNANCE_AUDITOR_ROLE=governance_auditor governance init
#     export GOVERNANCE_DATABASE_URL="$(deployments/postgres.sh app-url)"
# The cluster runs without fsync (it is throwaway; PG_DURABLE=1 at start keeps fsync on).
# As root, initdb and postgres run as the `postgres` OS user (they refuse to run as root).
set -euo pipefail

cmd="${1:-start}"
base="${2:-${GOVERNANCE_PG_DIR:-/tmp/governance-pg}}"
port="${PGPORT_TEST:-55432}"
db="${PGDATABASE_TEST:-governance_test}"
max_connections="${PG_MAX_CONNECTIONS:-200}"

data="$base/data-$port"
sock="$base/sock"
log="$base/postgres-$port.log"
url="postgresql+psycopg://postgres@127.0.0.1:$port/$db"
owner_role="${GOVERNANCE_OWNER_ROLE:-governance_owner}"
app_role="${GOVERNANCE_APP_ROLE:-governance_app}"
gateway_role="${GOVERNANCE_GATEWAY_ROLE:-governance_gateway}"
auditor_role="${GOVERNANCE_AUDITOR_ROLE:-governance_auditor}"
app_db="${PGDATABASE_APP:-governance}"

say() { echo "postgres.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

case "$cmd" in
  start | stop | status | url | reset | destroy | owner-url | app-url | gateway-url | auditor-url) ;;
  -h | --help | help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown command '$cmd' (start|stop|status|url|reset|destroy|owner-url|app-url|gateway-url|auditor-url)" ;;
esac

case "$cmd" in
  url) echo "$url"; exit 0 ;;
  owner-url) echo "postgresql+psycopg://$owner_role@127.0.0.1:$port/$app_db"; exit 0 ;;
  app-url) echo "postgresql+psycopg://$app_role@127.0.0.1:$port/$app_db"; exit 0 ;;
  gateway-url) echo "postgresql+psycopg://$gateway_role@127.0.0.1:$port/$app_db"; exit 0 ;;
  auditor-url) echo "postgresql+psycopg://$auditor_role@127.0.0.1:$port/$app_db"; exit 0 ;;
esac

# --- locate the server binaries -------------------------------------------------------------
bindir=""
if [[ -n "${PG_BINDIR:-}" ]]; then
  bindir="$PG_BINDIR"
else
  newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$newest" && -x "$newest/initdb" ]]; then
    bindir="$newest"
  elif command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/initdb" ]]; then
    bindir="$(pg_config --bindir)"
  elif command -v initdb >/dev/null 2>&1; then
    bindir="$(dirname "$(command -v initdb)")"
  fi
fi
[[ -n "$bindir" && -x "$bindir/pg_ctl" ]] \
  || die "PostgreSQL server binaries not found (apt-get install postgresql, or set PG_BINDIR)"

# --- run server tools as the right user -----------------------------------------------------
if [[ "$(id -u)" == 0 ]]; then
  getent passwd postgres >/dev/null || die "running as root but there is no 'postgres' OS user"
  as_pg() { runuser -u postgres -- "$@"; }
  pg_owner=postgres
else
  as_pg() { "$@"; }
  pg_owner="$(id -un)"
fi

psql_admin() {
  "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"
}

ready() { "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 >/dev/null 2>&1; }

ours_running() { [[ -f "$data/PG_VERSION" ]] && as_pg "$bindir/pg_ctl" status -D "$data" >/dev/null 2>&1; }

ensure_db() {
  local exists
  exists="$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" \
    || die "cannot connect to 127.0.0.1:$port as postgres (is another server using that port?)"
  if [[ "$exists" != 1 ]]; then
    psql_admin -c "CREATE DATABASE \"$db\""
    say "created database $db"
  fi
}

# The owner runs migrations and owns every table; the application role owns nothing, so it
# cannot drop or disable the audit triggers (init grants it the rest: GOVERNANCE_APP_ROLE).
# The gateway's and auditor's roles own nothing either (GOVERNANCE_GATEWAY_ROLE, _AUDITOR_ROLE).
ensure_roles() {
  psql_admin -v owner="$owner_role" -v app="$app_role" -v gateway="$gateway_role" \
    -v auditor="$auditor_role" -v appdb="$app_db" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', :'owner')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT', :'app')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') \gexec
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT', :'gateway')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'gateway') \gexec
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT', :'auditor')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'auditor') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'appdb', :'owner')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'appdb') \gexec
SQL
}

stop_cluster() {
  if ours_running; then
    as_pg "$bindir/pg_ctl" stop -D "$data" -m fast -w -t 60 >/dev/null
    say "stopped cluster in $data"
  else
    say "no cluster running in $data"
  fi
}

case "$cmd" in
  status)
    if ready; then say "accepting connections on 127.0.0.1:$port"; exit 0; fi
    say "not running on 127.0.0.1:$port"
    exit 1
    ;;
  stop)
    stop_cluster
    exit 0
    ;;
  destroy)
    stop_cluster
    rm -rf "$data" "$log"
    say "removed $data"
    exit 0
    ;;
esac

# --- start (also the first half of reset) ---------------------------------------------------
if ready; then
  ours_running || say "something is already listening on 127.0.0.1:$port; using it"
else
  mkdir -p "$base" "$sock"
  if [[ "$(id -u)" == 0 ]]; then
    chown "$pg_owner" "$base" "$sock"
    if [[ -d "$data" ]]; then chown -R "$pg_owner" "$data"; fi
    # postgres must be able to reach DIR through its parents.
    runuser -u postgres -- test -w "$base" \
      || die "the postgres user cannot write to $base (choose a DIR outside /root)"
  fi
  chmod 0755 "$base" "$sock"

  if [[ ! -f "$data/PG_VERSION" ]]; then
    rm -rf "$data"
    say "initdb $data ($("$bindir/postgres" --version))"
    as_pg "$bindir/initdb" -D "$data" -A trust -U postgres -E UTF8 --no-locale >"$base/initdb-$port.log" 2>&1 \
      || { cat "$base/initdb-$port.log" >&2; die "initdb failed"; }
  fi

  opts="-c listen_addresses=127.0.0.1 -p $port -k $sock -c max_connections=$max_connections"
  # A throwaway cluster need not survive an OS crash: without fsync the suite's thousands of
  # small commits and CREATE/DROP DATABASEs run about twice as fast. A killed or stopped
  # server loses nothing (the OS still holds what it wrote). PG_DURABLE=1 keeps fsync.
  if [[ "${PG_DURABLE:-0}" != 1 ]]; then
    opts="$opts -c fsync=off -c full_page_writes=off"
  fi
  say "starting on 127.0.0.1:$port (log: $log)"
  touch "$log"
  if [[ "$(id -u)" == 0 ]]; then chown "$pg_owner" "$log"; fi
  as_pg "$bindir/pg_ctl" start -D "$data" -o "$opts" -l "$log" -w -t 60 >/dev/null \
    || { tail -n 30 "$log" >&2 || true; die "PostgreSQL did not start"; }
fi

if [[ "$cmd" == reset ]]; then
  psql_admin -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
  say "dropped database $db"
fi
ensure_db
ensure_roles
echo "$url"
