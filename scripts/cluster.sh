#!/usr/bin/env bash
# A throw-away 3-node RabbitMQ cluster on this machine, beside the system node, for the cluster
# tests (dist/test/cluster) and for trying quorum queues by hand:
#   bash scripts/cluster.sh up              start three nodes, join them, print AMQP_URL
#   bash scripts/cluster.sh down            stop what `up` started and delete its data
#   bash scripts/cluster.sh status          cluster status as node 1 sees it
#   bash scripts/cluster.sh kill N          kill -9 node N (1-3)
#   bash scripts/cluster.sh start N         start node N again (it rejoins with its data)
#   bash scripts/cluster.sh stop N          stop node N gracefully
#   bash scripts/cluster.sh url [N]         the AMQP URL of node N, or of all three (comma-separated)
#   bash scripts/cluster.sh ctl N ARGS...   rabbitmqctl against node N (e.g. list_queues name leader)
#
# Each node has its own name (celerityN@localhost), AMQP port (5681-5683), distribution port
# (25681-25683), data and log folders under $CELERITY_CLUSTER_DIR, and a private epmd on port
# 4380, so nothing is shared with the system node (rabbit@<host> on 5672), /etc/rabbitmq or
# /var/lib/rabbitmq: this script never touches those. HOME points into the cluster folder so the
# nodes and rabbitmqctl share a cookie of their own. Needs Debian's rabbitmq-server (3.10 here):
# it uses /usr/lib/rabbitmq/bin directly, in the foreground, under setsid.
set -euo pipefail

DIR="${CELERITY_CLUSTER_DIR:-${TMPDIR:-/tmp}/celerity-cluster}"
BIN=/usr/lib/rabbitmq/bin
EPMD_PORT="${CELERITY_CLUSTER_EPMD_PORT:-4380}"
AMQP_BASE="${CELERITY_CLUSTER_AMQP_BASE:-5680}"
DIST_BASE="${CELERITY_CLUSTER_DIST_BASE:-25680}"
NODES=(1 2 3)

node_name() { echo "celerity$1@localhost"; }
amqp_port() { echo $((AMQP_BASE + $1)); }
dist_port() { echo $((DIST_BASE + $1)); }
pid_file() { echo "$DIR/node$1/pid"; }

# The environment every node and every rabbitmqctl call of this cluster runs with.
node_env() {
  local n=$1
  echo HOME="$DIR/home" \
    ERL_EPMD_PORT="$EPMD_PORT" \
    RABBITMQ_NODENAME="$(node_name "$n")" \
    RABBITMQ_NODE_PORT="$(amqp_port "$n")" \
    RABBITMQ_DIST_PORT="$(dist_port "$n")" \
    RABBITMQ_MNESIA_BASE="$DIR/node$n/mnesia" \
    RABBITMQ_LOG_BASE="$DIR/node$n/log" \
    RABBITMQ_PID_FILE="$(pid_file "$n")" \
    RABBITMQ_CONFIG_FILE="$DIR/node$n/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/node$n/enabled_plugins" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$DIR/node$n/advanced.config"
}

ctl() {
  local n=$1
  shift
  env $(node_env "$n") "$BIN/rabbitmqctl" -n "$(node_name "$n")" "$@"
}

check_n() {
  [[ ${1:-} =~ ^[123]$ ]] || {
    echo "cluster: node number must be 1, 2 or 3, got '${1:-}'" >&2
    exit 2
  }
}

node_pid() {
  local f
  f=$(pid_file "$1")
  [[ -s $f ]] && cat "$f"
}

node_alive() {
  local pid
  pid=$(node_pid "$1") || return 1
  kill -0 "$pid" 2>/dev/null
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_config() {
  local n=$1
  mkdir -p "$DIR/node$n/mnesia" "$DIR/node$n/log"
  cat >"$DIR/node$n/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$(amqp_port "$n")
loopback_users.guest = true
disk_free_limit.absolute = 50MB
# Four nodes share this machine: each gets a small slice of memory before it blocks publishers.
vm_memory_high_watermark.absolute = 1GB
cluster_partition_handling = pause_minority
EOF
  echo '[].' >"$DIR/node$n/enabled_plugins"
  echo '[].' >"$DIR/node$n/advanced.config"
}

start_node() {
  local n=$1
  if node_alive "$n"; then return 0; fi
  if port_in_use "$(amqp_port "$n")"; then
    echo "cluster: port $(amqp_port "$n") is taken by something this script did not start" >&2
    exit 1
  fi
  rm -f "$(pid_file "$n")"
  # Foreground server in its own session: `kill -9` of its pid is a node crash, and the
  # test runner's process group is not involved.
  # From the node's own folder, with its crash dump there: nothing lands in the caller's cwd.
  # exec: no shell stays behind holding the caller's stdout open.
  (
    cd "$DIR/node$n"
    exec env $(node_env "$n") ERL_CRASH_DUMP="$DIR/node$n/erl_crash.dump" \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
      setsid "$BIN/rabbitmq-server"
  ) >>"$DIR/node$n/log/stdout.log" 2>&1 </dev/null &
}

wait_node() {
  local n=$1 deadline=$((SECONDS + ${2:-90}))
  until ctl "$n" await_startup --timeout 5 >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      echo "cluster: node $n did not start; last log lines:" >&2
      tail -n 30 "$DIR/node$n/log/stdout.log" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}

cmd_up() {
  if [[ -f $DIR/.up ]] && node_alive 1 && node_alive 2 && node_alive 3; then
    cmd_url
    return 0
  fi
  local started=$SECONDS
  mkdir -p "$DIR/home"
  if [[ ! -f $DIR/home/.erlang.cookie ]]; then
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/home/.erlang.cookie"
    chmod 400 "$DIR/home/.erlang.cookie"
  fi
  for n in "${NODES[@]}"; do write_config "$n"; done
  for n in "${NODES[@]}"; do start_node "$n"; done
  for n in "${NODES[@]}"; do wait_node "$n"; done
  for n in 2 3; do
    if ! ctl 1 cluster_status --formatter json 2>/dev/null | grep -q "\"$(node_name "$n")\""; then
      ctl "$n" stop_app >/dev/null
      ctl "$n" join_cluster "$(node_name 1)" >/dev/null
      ctl "$n" start_app >/dev/null
    fi
  done
  touch "$DIR/.up"
  echo "cluster: 3 nodes up in $((SECONDS - started)) s (data in $DIR)" >&2
  cmd_url
}

cmd_down() {
  for n in "${NODES[@]}"; do
    if node_alive "$n"; then
      ctl "$n" stop >/dev/null 2>&1 || true
      local pid deadline=$((SECONDS + 30))
      pid=$(node_pid "$n") || true
      while [[ -n ${pid:-} ]] && kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS > deadline)); then kill -9 "$pid" 2>/dev/null || true; fi
        sleep 0.2
      done
    fi
  done
  # The private epmd the first node started (it outlives the nodes).
  ERL_EPMD_PORT="$EPMD_PORT" epmd -port "$EPMD_PORT" -kill >/dev/null 2>&1 || true
  rm -rf "$DIR"
}

cmd_status() {
  # Without a cluster, rabbitmqctl would only fail, and start a private epmd on the way.
  if [[ ! -d $DIR/home ]]; then
    echo "cluster: not running (no $DIR)"
    return 0
  fi
  ctl 1 cluster_status
}

cmd_kill() {
  check_n "${1:-}"
  local pid
  pid=$(node_pid "$1") || {
    echo "cluster: node $1 is not running" >&2
    exit 1
  }
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

cmd_start() {
  check_n "${1:-}"
  start_node "$1"
  wait_node "$1"
}

cmd_stop() {
  check_n "${1:-}"
  local pid
  pid=$(node_pid "$1") || return 0
  ctl "$1" stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

cmd_url() {
  if [[ -n ${1:-} ]]; then
    check_n "$1"
    echo "amqp://guest:guest@127.0.0.1:$(amqp_port "$1")"
    return
  fi
  local urls=()
  for n in "${NODES[@]}"; do urls+=("amqp://guest:guest@127.0.0.1:$(amqp_port "$n")"); done
  (
    IFS=,
    echo "${urls[*]}"
  )
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  kill) cmd_kill "${2:-}" ;;
  start) cmd_start "${2:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  url) cmd_url "${2:-}" ;;
  ctl)
    check_n "${2:-}"
    n=$2
    shift 2
    ctl "$n" "$@"
    ;;
  *)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
