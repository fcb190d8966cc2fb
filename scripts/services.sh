#!/usr/bin/env bash
# Bring up (or stop/start) the local RabbitMQ and PostgreSQL that Celerity needs.
#
#   bash scripts/services.sh [up]                      ensure both answer on 127.0.0.1, plus role/databases
#   bash scripts/services.sh start|stop|restart rabbitmq|postgres
#   bash scripts/services.sh status                    exit 0 when both ports answer, 1 otherwise
#
# Targets Debian/Ubuntu (pg_ctlcluster, the rabbitmq-server package). Installs missing servers
# with apt-get only when running as root. Everything that waits is bounded in time.
#
# Environment:
#   CELERITY_SKIP_SERVICES=1   services are managed elsewhere (remote AMQP_URL / DATABASE_URL):
#                              `up`/`status` do nothing and exit 0; start/stop/restart exit 3 so
#                              chaos tests can tell they cannot control the services.
#   CELERITY_RABBITMQ_WAIT     seconds to wait for RabbitMQ to come up   (default 90)
#   CELERITY_POSTGRES_WAIT     seconds to wait for PostgreSQL to come up (default 60)
#   CELERITY_STOP_WAIT         seconds to wait for a port to close on stop (default 60)
# AMQP_URL / DATABASE_URL are deliberately not parsed: this script only manages the local defaults.
set -euo pipefail

# Non-root shells on Debian often lack the sbin dirs, where rabbitmq-server/rabbitmqctl live.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

readonly RABBIT_HOST=127.0.0.1 RABBIT_PORT=5672
readonly PG_HOST=127.0.0.1 PG_PORT=5432
readonly RABBIT_WAIT="${CELERITY_RABBITMQ_WAIT:-90}"
readonly PG_WAIT="${CELERITY_POSTGRES_WAIT:-60}"
readonly STOP_WAIT="${CELERITY_STOP_WAIT:-60}"
readonly APP_ROLE=celerity APP_PASSWORD=celerity
readonly APP_DATABASES=(celerity celerity_test)
readonly SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"

log() { echo "services: $*"; }
err() { echo "services: $*" >&2; }

# ---------------------------------------------------------------------------------------------
# generic helpers
# ---------------------------------------------------------------------------------------------

# port_open HOST PORT: true when a TCP connect succeeds within 2 s (bash /dev/tcp; nc may be missing).
port_open() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# wait_port NAME HOST PORT SECONDS: poll until the port answers; progress line every 5 s.
wait_port() {
  local name=$1 host=$2 port=$3 secs=$4 start=$SECONDS elapsed
  while ! port_open "$host" "$port"; do
    elapsed=$((SECONDS - start))
    if ((elapsed >= secs)); then
      return 1
    fi
    if ((elapsed > 0 && elapsed % 5 == 0)); then
      log "waiting for $name on $host:$port (${elapsed}s/${secs}s)..."
    fi
    sleep 1
  done
}

# wait_port_closed NAME HOST PORT SECONDS
wait_port_closed() {
  local name=$1 host=$2 port=$3 secs=$4 start=$SECONDS elapsed
  while port_open "$host" "$port"; do
    elapsed=$((SECONDS - start))
    if ((elapsed >= secs)); then
      return 1
    fi
    if ((elapsed > 0 && elapsed % 5 == 0)); then
      log "waiting for $name to release $host:$port (${elapsed}s/${secs}s)..."
    fi
    sleep 1
  done
}

is_root() { [[ $EUID -eq 0 ]]; }

# "When systemd is PID 1": services started by hand would then fight with systemd's units.
systemd_running() {
  [[ -d /run/systemd/system ]] || [[ "$(cat /proc/1/comm 2>/dev/null || true)" == systemd ]]
}

# run_logged LOGFILE CMD...: run CMD in its own session (so a Ctrl-C aimed at the caller, e.g.
# `npm start`, never reaches the daemon being launched), stdout/stderr into LOGFILE rather than a
# pipe: daemons can keep inherited fds open, and a $(...) capture would then hang forever.
run_logged() {
  local logfile=$1
  shift
  # 9>&-: don't let a daemon inherit the lock fd (see take_lock), or it would hold the lock forever.
  if command -v setsid >/dev/null 2>&1; then
    timeout 120 setsid -w "$@" >"$logfile" 2>&1 </dev/null 9>&-
  else
    timeout 120 "$@" >"$logfile" 2>&1 </dev/null 9>&-
  fi
}

# show_log FILE: indent a captured command output for an error message.
show_log() {
  [[ -s $1 ]] && sed 's/^/    | /' "$1" >&2
  return 0
}

APT_UPDATED=0
apt_install() {
  if ((APT_UPDATED == 0)); then
    log "apt-get update"
    apt-get update -qq 9>&- || return 1
    APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  # Without systemd, a package's postinst may start its daemon from here: close the lock fd.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" 9>&- || return 1
}

# print_install_help PACKAGE...: we are not root (or have no apt): tell the user what to run.
print_install_help() {
  if command -v apt-get >/dev/null 2>&1; then
    err "run these commands as root (e.g. prefix with sudo), then re-run npm start / npm test:"
    err "    apt-get update"
    err "    DEBIAN_FRONTEND=noninteractive apt-get install -y $*"
    err "    bash $SCRIPT_PATH up"
  else
    err "no apt-get here: install $* with your system's package manager, make RabbitMQ listen on"
    err "$RABBIT_HOST:$RABBIT_PORT (guest/guest) and PostgreSQL on $PG_HOST:$PG_PORT, then run:"
    err "    bash $SCRIPT_PATH up"
  fi
  err "(or use servers elsewhere: export CELERITY_SKIP_SERVICES=1 AMQP_URL=amqp://... DATABASE_URL=postgres://...)"
}

print_root_help() {
  err "starting $1 needs root; run as root (e.g. with sudo):"
  err "    bash $SCRIPT_PATH up"
}

# ---------------------------------------------------------------------------------------------
# RabbitMQ
# ---------------------------------------------------------------------------------------------

rabbit_installed() { command -v rabbitmq-server >/dev/null 2>&1; }

rabbit_fail_hint() {
  err "rabbitmq: logs are in /var/log/rabbitmq/ (rabbit@*.log, startup_log, startup_err)"
  # Classic container pitfall: node name rabbit@<hostname> but the hostname doesn't resolve.
  if ! getent hosts "$(hostname -s 2>/dev/null || hostname)" >/dev/null 2>&1; then
    err "rabbitmq: note: hostname '$(hostname)' does not resolve; RabbitMQ needs it for its node name."
    err "          Fix /etc/hosts, or put NODENAME=rabbit@localhost in /etc/rabbitmq/rabbitmq-env.conf."
  fi
}

# rabbit_start: start an installed-but-stopped RabbitMQ and wait until it serves AMQP.
rabbit_start() {
  if port_open "$RABBIT_HOST" "$RABBIT_PORT"; then
    log "rabbitmq: up ($RABBIT_HOST:$RABBIT_PORT)"
    return 0
  fi
  if ! is_root; then
    err "rabbitmq: not answering on $RABBIT_HOST:$RABBIT_PORT"
    print_root_help rabbitmq
    return 1
  fi
  local out
  out=$(mktemp)
  log "rabbitmq: starting (this usually takes 5-20 s)..."
  if systemd_running; then
    run_logged "$out" systemctl start rabbitmq-server || {
      err "rabbitmq: 'systemctl start rabbitmq-server' failed:"
      show_log "$out"
      err "rabbitmq: see also: journalctl -u rabbitmq-server"
      rm -f "$out"
      rabbit_fail_hint
      return 1
    }
  else
    # The Debian wrapper /usr/sbin/rabbitmq-server switches to the rabbitmq user by itself.
    run_logged "$out" rabbitmq-server -detached || {
      err "rabbitmq: 'rabbitmq-server -detached' failed:"
      show_log "$out"
      rm -f "$out"
      rabbit_fail_hint
      return 1
    }
  fi
  rm -f "$out"

  local start=$SECONDS
  if ! wait_port rabbitmq "$RABBIT_HOST" "$RABBIT_PORT" "$RABBIT_WAIT"; then
    err "rabbitmq: did not open $RABBIT_HOST:$RABBIT_PORT within ${RABBIT_WAIT}s"
    rabbit_fail_hint
    return 1
  fi
  # The AMQP listener opens near the end of boot; check_running confirms the app itself is up.
  if command -v rabbitmq-diagnostics >/dev/null 2>&1; then
    local left
    until timeout 30 rabbitmq-diagnostics -q check_running >/dev/null 2>&1; do
      left=$((RABBIT_WAIT - (SECONDS - start)))
      if ((left <= 0)); then
        err "rabbitmq: port is open but 'rabbitmq-diagnostics check_running' still fails after ${RABBIT_WAIT}s"
        rabbit_fail_hint
        return 1
      fi
      sleep 1
    done
  fi
  log "rabbitmq: up ($RABBIT_HOST:$RABBIT_PORT, started in $((SECONDS - start))s)"
}

rabbit_stop() {
  if ! rabbit_installed; then
    err "rabbitmq: not installed here; cannot stop it"
    return 1
  fi
  if ! is_root; then
    err "rabbitmq: stopping needs root"
    return 1
  fi
  if ! port_open "$RABBIT_HOST" "$RABBIT_PORT"; then
    log "rabbitmq: already stopped"
    return 0
  fi
  local out
  out=$(mktemp)
  log "rabbitmq: stopping..."
  if systemd_running; then
    run_logged "$out" systemctl stop rabbitmq-server || true
  else
    # `shutdown` blocks until the Erlang VM has exited, so an immediate start won't collide
    # with a half-dead node; fall back to `stop` for anything that lacks it.
    run_logged "$out" rabbitmqctl -q shutdown || run_logged "$out" rabbitmqctl -q stop || true
  fi
  if ! wait_port_closed rabbitmq "$RABBIT_HOST" "$RABBIT_PORT" "$STOP_WAIT"; then
    err "rabbitmq: still answering on $RABBIT_HOST:$RABBIT_PORT after ${STOP_WAIT}s; stop output:"
    show_log "$out"
    rm -f "$out"
    return 1
  fi
  rm -f "$out"
  log "rabbitmq: stopped"
}

# ensure_rabbit INSTALL(0|1): `up` logic.
ensure_rabbit() {
  local install=$1
  if port_open "$RABBIT_HOST" "$RABBIT_PORT"; then
    log "rabbitmq: up ($RABBIT_HOST:$RABBIT_PORT)"
    return 0
  fi
  if ! rabbit_installed; then
    if ((install == 0)); then
      err "rabbitmq: not installed"
      return 1
    fi
    if is_root && command -v apt-get >/dev/null 2>&1; then
      log "rabbitmq: not installed, installing with apt-get"
      apt_install rabbitmq-server || {
        err "rabbitmq: apt-get install rabbitmq-server failed"
        return 1
      }
      # The package's postinst may have started it already (under systemd).
      if port_open "$RABBIT_HOST" "$RABBIT_PORT"; then
        log "rabbitmq: up ($RABBIT_HOST:$RABBIT_PORT)"
        return 0
      fi
    else
      err "rabbitmq: nothing answers on $RABBIT_HOST:$RABBIT_PORT and RabbitMQ is not installed."
      MISSING_PACKAGES+=(rabbitmq-server)
      return 1
    fi
  fi
  rabbit_start
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL (Debian's postgresql-common: pg_lsclusters / pg_ctlcluster / pg_createcluster)
# ---------------------------------------------------------------------------------------------

# Newest installed server version, e.g. "15" (empty when no server binaries are installed).
pg_installed_version() {
  local d
  for d in /usr/lib/postgresql/*/bin/postgres; do
    [[ -x $d ]] && basename "$(dirname "$(dirname "$d")")"
  done | sort -V | tail -n 1
}

pg_installed() {
  command -v pg_ctlcluster >/dev/null 2>&1 && [[ -n "$(pg_installed_version)" ]]
}

# pg_cluster: print "<version> <name>" of the cluster configured for port 5432 (empty if none).
pg_cluster() {
  pg_lsclusters -h 2>/dev/null | awk -v port="$PG_PORT" '$3 == port { print $1, $2; exit }'
}

# PG_CTL: the pg_ctlcluster command line. Under systemd let pg_ctlcluster redirect to the
# postgresql@ unit (so systemd tracks it); otherwise drive pg_ctl directly. (An array, not a
# function, because run_logged hands it to setsid/timeout, which can't exec shell functions.)
if systemd_running; then
  PG_CTL=(pg_ctlcluster)
else
  PG_CTL=(pg_ctlcluster --skip-systemctl-redirect)
fi

# pg_ensure_cluster: make sure a cluster for port 5432 exists; prints "<version> <name>".
pg_ensure_cluster() {
  local cl ver
  cl=$(pg_cluster)
  if [[ -n $cl ]]; then
    echo "$cl"
    return 0
  fi
  if [[ -n "$(pg_lsclusters -h 2>/dev/null)" ]]; then
    err "postgres: clusters exist but none is configured for port $PG_PORT:"
    pg_lsclusters >&2 || true
    err "postgres: set 'port = $PG_PORT' in /etc/postgresql/<version>/<cluster>/postgresql.conf and re-run."
    return 1
  fi
  if ! is_root; then
    err "postgres: no cluster exists yet; creating one needs root:"
    err "    pg_createcluster $(pg_installed_version) main && bash $SCRIPT_PATH up"
    return 1
  fi
  ver=$(pg_installed_version)
  log "postgres: no cluster in /etc/postgresql, creating $ver/main" >&2
  pg_createcluster "$ver" main >/dev/null || {
    err "postgres: pg_createcluster $ver main failed"
    return 1
  }
  echo "$ver main"
}

pg_start() {
  if port_open "$PG_HOST" "$PG_PORT"; then
    log "postgres: up ($PG_HOST:$PG_PORT)"
    return 0
  fi
  local cl ver name out
  cl=$(pg_ensure_cluster) || return 1
  read -r ver name <<<"$cl"
  if ! is_root; then
    err "postgres: cluster $ver/$name is not answering on $PG_HOST:$PG_PORT"
    print_root_help postgres
    return 1
  fi
  out=$(mktemp)
  log "postgres: starting cluster $ver/$name..."
  local start=$SECONDS
  # A failing start may just mean "already running" (e.g. listening on the socket only), so the
  # port check below is what decides.
  run_logged "$out" "${PG_CTL[@]}" "$ver" "$name" start || true
  if ! wait_port postgres "$PG_HOST" "$PG_PORT" "$PG_WAIT"; then
    err "postgres: did not open $PG_HOST:$PG_PORT within ${PG_WAIT}s; pg_ctlcluster said:"
    show_log "$out"
    err "postgres: logs are in /var/log/postgresql/ (postgresql-$ver-$name.log)"
    rm -f "$out"
    return 1
  fi
  rm -f "$out"
  log "postgres: up ($PG_HOST:$PG_PORT, started in $((SECONDS - start))s)"
}

pg_stop() {
  if ! pg_installed; then
    err "postgres: not installed here; cannot stop it"
    return 1
  fi
  if ! is_root; then
    err "postgres: stopping needs root"
    return 1
  fi
  if ! port_open "$PG_HOST" "$PG_PORT"; then
    log "postgres: already stopped"
    return 0
  fi
  local cl ver name out
  cl=$(pg_cluster)
  if [[ -z $cl ]]; then
    err "postgres: something answers on $PG_PORT but no local cluster is configured for that port"
    return 1
  fi
  read -r ver name <<<"$cl"
  out=$(mktemp)
  log "postgres: stopping cluster $ver/$name..."
  run_logged "$out" "${PG_CTL[@]}" "$ver" "$name" stop -m fast || true
  if ! wait_port_closed postgres "$PG_HOST" "$PG_PORT" "$STOP_WAIT"; then
    err "postgres: still answering on $PG_HOST:$PG_PORT after ${STOP_WAIT}s; pg_ctlcluster said:"
    show_log "$out"
    rm -f "$out"
    return 1
  fi
  rm -f "$out"
  log "postgres: stopped"
}

ensure_pg() {
  local install=$1
  if port_open "$PG_HOST" "$PG_PORT"; then
    log "postgres: up ($PG_HOST:$PG_PORT)"
    return 0
  fi
  if ! pg_installed; then
    if ((install == 0)); then
      err "postgres: not installed"
      return 1
    fi
    if is_root && command -v apt-get >/dev/null 2>&1; then
      log "postgres: not installed, installing with apt-get"
      apt_install postgresql || {
        err "postgres: apt-get install postgresql failed"
        return 1
      }
      if port_open "$PG_HOST" "$PG_PORT"; then
        log "postgres: up ($PG_HOST:$PG_PORT)"
        return 0
      fi
    else
      err "postgres: nothing answers on $PG_HOST:$PG_PORT and PostgreSQL is not installed."
      MISSING_PACKAGES+=(postgresql)
      return 1
    fi
  fi
  pg_start
}

# ---- role and databases ----------------------------------------------------------------------

# app_db_ok: the celerity role can log in (with its password) to both databases and has CREATEDB.
app_db_ok() {
  local db out
  for db in "${APP_DATABASES[@]}"; do
    out=$(PGPASSWORD=$APP_PASSWORD PGCONNECT_TIMEOUT=5 psql -h "$PG_HOST" -p "$PG_PORT" \
      -U "$APP_ROLE" -d "$db" -w -X -qAt \
      -c "select rolcreatedb and (select pg_get_userbyid(datdba) = current_user from pg_database where datname = current_database()) from pg_roles where rolname = current_user" \
      2>/dev/null) || return 1
    [[ $out == t ]] || return 1
  done
}

# The admin SQL; idempotent. CREATE DATABASE can't run inside DO/transactions, hence \gexec.
admin_sql() {
  cat <<SQL
\set ON_ERROR_STOP on
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_ROLE') THEN
    CREATE ROLE $APP_ROLE LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  ELSE
    ALTER ROLE $APP_ROLE LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  END IF;
END
\$\$;
SQL
  local db
  for db in "${APP_DATABASES[@]}"; do
    cat <<SQL
SELECT 'CREATE DATABASE $db OWNER $APP_ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db') \gexec
ALTER DATABASE $db OWNER TO $APP_ROLE;
SQL
  done
}

# admin_psql ARGS...: run psql as a superuser. First a non-interactive TCP login as postgres
# (works with trust auth); on a stock Debian install that needs a password, so fall back to the
# postgres OS user over the unix socket (peer auth).
admin_psql() {
  if PGCONNECT_TIMEOUT=5 psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -w -X -qAt \
    -c 'select 1' >/dev/null 2>&1; then
    PGCONNECT_TIMEOUT=5 psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -w -X -q "$@"
  elif is_root && command -v runuser >/dev/null 2>&1; then
    # cd / so psql doesn't warn that the postgres user can't read the current directory.
    (cd / && runuser -u postgres -- psql -p "$PG_PORT" -d postgres -X -q "$@")
  else
    return 2
  fi
}

ensure_app_db() {
  if app_db_ok; then
    return 0
  fi
  local rc=0 out
  out=$(mktemp)
  admin_sql | admin_psql -f - >"$out" 2>&1 || rc=$?
  if ((rc == 2)) && [[ ! -s $out ]]; then
    rm -f "$out"
    err "postgres: role '$APP_ROLE' / databases ${APP_DATABASES[*]} are missing and I can't log in as a superuser."
    err "run as root:"
    err "    bash $SCRIPT_PATH up"
    err "or create them yourself (psql as a superuser):"
    err "    CREATE ROLE $APP_ROLE LOGIN CREATEDB PASSWORD '$APP_PASSWORD';"
    local db
    for db in "${APP_DATABASES[@]}"; do
      err "    CREATE DATABASE $db OWNER $APP_ROLE;"
    done
    return 1
  fi
  if ((rc != 0)); then
    err "postgres: creating role/databases failed:"
    show_log "$out"
    rm -f "$out"
    return 1
  fi
  rm -f "$out"
  if ! app_db_ok; then
    err "postgres: role '$APP_ROLE' and databases exist, but logging in as"
    err "  postgres://$APP_ROLE:$APP_PASSWORD@$PG_HOST:$PG_PORT/${APP_DATABASES[0]} still fails;"
    err "  check pg_hba.conf allows password (scram-sha-256/md5) or trust for host 127.0.0.1/32."
    return 1
  fi
  log "postgres: role '$APP_ROLE' and databases ${APP_DATABASES[*]} ready"
}

# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------

MISSING_PACKAGES=()

cmd_up() {
  local rc=0
  ensure_rabbit 1 || rc=1
  if ensure_pg 1; then
    ensure_app_db || rc=1
  else
    rc=1
  fi
  if ((${#MISSING_PACKAGES[@]} > 0)); then
    if is_root; then
      err "apt-get is not available, so I can't install: ${MISSING_PACKAGES[*]}"
    else
      err "I'm not root, so I can't install: ${MISSING_PACKAGES[*]}"
    fi
    print_install_help "${MISSING_PACKAGES[@]}"
  fi
  return "$rc"
}

cmd_status() {
  local rc=0
  if port_open "$RABBIT_HOST" "$RABBIT_PORT"; then
    log "rabbitmq: up ($RABBIT_HOST:$RABBIT_PORT)"
  else
    log "rabbitmq: down ($RABBIT_HOST:$RABBIT_PORT)"
    rc=1
  fi
  if port_open "$PG_HOST" "$PG_PORT"; then
    if app_db_ok; then
      log "postgres: up ($PG_HOST:$PG_PORT, role '$APP_ROLE' ok)"
    else
      log "postgres: up ($PG_HOST:$PG_PORT), but role '$APP_ROLE'/databases not ready (run: bash $SCRIPT_PATH up)"
    fi
  else
    log "postgres: down ($PG_HOST:$PG_PORT)"
    rc=1
  fi
  return "$rc"
}

# service_cmd ACTION SERVICE
service_cmd() {
  local action=$1 svc=${2:-}
  case "$svc" in
    rabbitmq | rabbit)
      case "$action" in
        start) ensure_rabbit 0 ;;
        stop) rabbit_stop ;;
        restart) rabbit_stop && ensure_rabbit 0 ;;
      esac
      ;;
    postgres | postgresql | pg)
      case "$action" in
        start) ensure_pg 0 ;;
        stop) pg_stop ;;
        restart) pg_stop && ensure_pg 0 ;;
      esac
      ;;
    *)
      err "usage: $0 $action rabbitmq|postgres"
      return 64
      ;;
  esac
}

usage() {
  cat >&2 <<EOF
usage: bash scripts/services.sh [up|status]
       bash scripts/services.sh start|stop|restart rabbitmq|postgres
EOF
}

# Serialize concurrent invocations (e.g. two test files restarting services at once).
take_lock() {
  command -v flock >/dev/null 2>&1 || return 0
  local lock="${TMPDIR:-/tmp}/celerity-services.lock"
  # Another user's lock file in sticky /tmp may not be writable: then just run unlocked.
  # (Braces: a bare `exec 9>>f 2>/dev/null` would silence this script's stderr for good.)
  { exec 9>>"$lock"; } 2>/dev/null || return 0
  if ! flock -w 300 9; then
    err "another services.sh has held $lock for 300 s; giving up"
    exit 1
  fi
}

main() {
  local cmd=${1:-up}
  case "$cmd" in
    -h | --help | help)
      usage
      return 0
      ;;
    up | status | start | stop | restart) ;;
    *)
      err "unknown command '$cmd'"
      usage
      return 64
      ;;
  esac

  if [[ ${CELERITY_SKIP_SERVICES:-} == 1 ]]; then
    case "$cmd" in
      up | status)
        log "CELERITY_SKIP_SERVICES=1: leaving RabbitMQ/PostgreSQL alone (AMQP_URL/DATABASE_URL must point at running servers)"
        return 0
        ;;
      *)
        err "CELERITY_SKIP_SERVICES=1: services are managed elsewhere; refusing to $cmd ${2:-}"
        return 3
        ;;
    esac
  fi

  case "$cmd" in
    up)
      take_lock
      cmd_up
      ;;
    status) cmd_status ;;
    *)
      take_lock
      service_cmd "$cmd" "${2:-}"
      ;;
  esac
}

main "$@"
