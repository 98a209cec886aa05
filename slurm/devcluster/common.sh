# shellcheck shell=bash disable=SC2034  # the variables here are used by the scripts that source this file
# Shared settings and functions of the development SLURM cluster (start, stop, status source this file).
#
# The cluster emulates N compute nodes on this one machine: each node is a network + UTS + mount
# namespace with its own hostname, its own address on a private bridge and its own /etc/hosts, running
# its own slurmd. munged, MariaDB, slurmdbd and slurmctld run in the host namespace. Every file the
# cluster uses (keys, sockets, state, spool, logs, pid files, configs, database) lives under DEVCLUSTER_DIR.

DEVCLUSTER_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEVCLUSTER_DIR="${MCNN_DEVCLUSTER_DIR:-/tmp/mcnn-devcluster}"
SLURM_CONF_FILE="$DEVCLUSTER_DIR/slurm.conf"

CLUSTER_NAME="mcnn"
PARTITION="debug"
DEFAULT_NODES=4
MAX_NODES=50                     # node addresses are SUBNET.11 .. SUBNET.60
NODE_MEMORY_MB=4000              # what each emulated node advertises; capped by the real memory

# Private network on a bridge this cluster creates; nothing else is ever addressed.
BRIDGE="mcnnbr0"
SUBNET="10.77.0"                 # /24
CTL_ADDR="$SUBNET.1"             # host side of the bridge: slurmctld and slurmdbd
SLURMCTLD_PORT=6817
SLURMD_PORT=6818                 # each slurmd listens in its own namespace, so one port serves all
SLURMDBD_PORT=6819
DB_PORT=13306                    # MariaDB on loopback only; not 3306, which a system MariaDB may hold

# Debian packages the cluster needs. libpmix-dev is not optional: slurm's mpi_pmix plugin dlopens the
# unversioned libpmix.so, which only the -dev package ships.
REQUIRED_PACKAGES=(slurm-wlm slurmdbd munge mariadb-server mariadb-client libpmix-dev iproute2 util-linux)

# Unix sockets must fit in sun_path (108 bytes); the longest path below the cluster dir is a slurmstepd
# socket like spool/node50/node50_4294967294.4294967292 (~50 bytes), so the dir gets the rest.
MAX_DIR_LENGTH=50

# Layout under DEVCLUSTER_DIR.
MUNGE_DIR="$DEVCLUSTER_DIR/munge"
MUNGE_KEY="$MUNGE_DIR/munge.key"
MUNGE_SOCKET="$MUNGE_DIR/munge.socket"
DB_DIR="$DEVCLUSTER_DIR/db"
DB_DATA="$DB_DIR/data"
DB_SOCKET="$DB_DIR/mariadbd.sock"
DB_CNF="$DB_DIR/my.cnf"
DB_PASSWORD_FILE="$DB_DIR/slurm.password"
RUN_DIR="$DEVCLUSTER_DIR/run"    # pid files
LOG_DIR="$DEVCLUSTER_DIR/log"
STATE_DIR="$DEVCLUSTER_DIR/state"
SPOOL_DIR="$DEVCLUSTER_DIR/spool"
NODE_TMP_DIR="$DEVCLUSTER_DIR/tmp"
HOSTS_FILE="$DEVCLUSTER_DIR/hosts"
ENV_FILE="$DEVCLUSTER_DIR/env.sh"

export SLURM_CONF="$SLURM_CONF_FILE"

# ---------------------------------------------------------------------------------------------- output

log() { printf '[devcluster] %s\n' "$*"; }
die() { printf '[devcluster] error: %s\n' "$*" >&2; exit 1; }

# ----------------------------------------------------------------------------------------------- nodes

node_name() { echo "node$1"; }
node_addr() { echo "$SUBNET.$((10 + $1))"; }
node_netns() { echo "mcnn-$(node_name "$1")"; }
node_veth() { echo "mcnnveth$1"; }   # host end; interface names are limited to 15 characters
ctl_host() { hostname -s; }

# Number of nodes in the current slurm.conf (0 when there is none).
configured_nodes() {
  if [ -f "$SLURM_CONF_FILE" ]; then
    grep -c '^NodeName=' "$SLURM_CONF_FILE" || true
  else
    echo 0
  fi
}

# ------------------------------------------------------------------------------------------- packages

missing_packages() {
  local pkg
  for pkg in "${REQUIRED_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}

ensure_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages: ${missing[*]}. Installing them needs root: sudo apt-get install -y ${missing[*]}"
  fi
  log "installing Debian packages: ${missing[*]} (output in $LOG_DIR/apt.log)"
  mkdir -p "$LOG_DIR"
  {
    apt-get -o DPkg::Lock::Timeout=900 update &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends "${missing[@]}"
  } >>"$LOG_DIR/apt.log" 2>&1 || die "installing ${missing[*]} failed; see $LOG_DIR/apt.log"
}

require_root() {
  [ "$(id -u)" -eq 0 ] || die "$1 needs root (network namespaces, bridge, daemons running as root)"
}

# The client commands and slurmctld reach the controller by this machine's hostname; it must resolve
# (through /etc/hosts) to an address of this machine, or they would send traffic elsewhere.
check_ctl_host_is_local() {
  local host addr
  host="$(ctl_host)"
  addr="$(getent ahostsv4 "$host" | awk 'NR == 1 {print $1}')"
  [ -n "$addr" ] || die "this machine's hostname '$host' does not resolve; add it to /etc/hosts (127.0.1.1 $host)"
  ip -4 route get "$addr" 2>/dev/null | grep -q '^local ' ||
    die "this machine's hostname '$host' resolves to $addr, which is not local; map it to 127.0.1.1 in /etc/hosts"
}

# Serialises start and stop: holds an exclusive lock on the cluster dir until the script exits.
# Daemons must not inherit the lock's fd 9 (see spawn in start), or they would hold it forever.
lock_cluster() {
  mkdir -p "$DEVCLUSTER_DIR"
  exec 9>"$DEVCLUSTER_DIR/lock"
  flock -w 120 9 || die "another start or stop holds $DEVCLUSTER_DIR/lock"
}

check_dir_length() {
  [ "${#DEVCLUSTER_DIR}" -le "$MAX_DIR_LENGTH" ] ||
    die "MCNN_DEVCLUSTER_DIR is ${#DEVCLUSTER_DIR} characters long; at most $MAX_DIR_LENGTH fit the 108-byte unix socket limit"
}

# -------------------------------------------------------------------------------------------- daemons

# True while process PID exists and is not a zombie (our daemons are reaped by pid 1, sometimes late).
process_alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"   # the state follows the parenthesised command name
  [ "${stat%% *}" != Z ]
}

# Prints the pid recorded in PIDFILE if that process is alive and is the expected program, so a stale
# pid file whose pid was reused by another process is never mistaken for our daemon.
daemon_pid() {
  local pidfile="$1" program="$2" pid
  [ -f "$pidfile" ] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$program" ] && process_alive "$pid" || return 1
  echo "$pid"
}

daemon_running() { daemon_pid "$@" >/dev/null; }

# Sends SIGTERM to the daemon of PIDFILE, waits up to 15 s for it to exit, then SIGKILLs it.
stop_daemon() {
  local pidfile="$1" program="$2" pid i
  if pid="$(daemon_pid "$pidfile" "$program")"; then
    log "stopping $program (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
      process_alive "$pid" || break
      sleep 0.1
    done
    if process_alive "$pid"; then
      log "$program (pid $pid) ignored SIGTERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s until it succeeds.
wait_for() {
  local seconds="$1" what="$2" i
  shift 2
  for ((i = 0; i < seconds * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "timed out after ${seconds}s waiting for $what (logs: $LOG_DIR)"
}

# Pid files of the host-side daemons, in start order: "pidfile program" per line.
host_daemons() {
  printf '%s %s\n' \
    "$RUN_DIR/munged.pid" munged \
    "$RUN_DIR/mariadbd.pid" mariadbd \
    "$RUN_DIR/slurmdbd.pid" slurmdbd \
    "$RUN_DIR/slurmctld.pid" slurmctld
}

# spawn LOG COMMAND...: runs a daemon's start command detached from this script's terminal and pipes,
# its own output appended to LOG, and without the lock fd 9 (a daemon that keeps it would hold the lock).
spawn() {
  local out="$1"
  shift
  "$@" </dev/null >>"$out" 2>&1 9>&-
}

# Each slurmd runs in its node's network namespace and in new UTS and mount namespaces, where it has the
# node's hostname and the cluster's /etc/hosts. Not `ip netns exec`: it remounts /sys, which breaks
# slurmd's cgroup plugin.
start_slurmd() {
  local i="$1" node
  node="$(node_name "$i")"
  # shellcheck disable=SC2016  # $1..$3 are the inner shell's arguments
  spawn "$LOG_DIR/slurmd-$node.out" nsenter --net="/run/netns/$(node_netns "$i")" \
    unshare --uts --mount --propagation private \
    sh -c 'hostname "$1" && mount --bind "$2" /etc/hosts && exec slurmd -f "$3" -N "$1"' \
    sh "$node" "$HOSTS_FILE" "$SLURM_CONF_FILE"
}

slurmd_pidfile() { echo "$RUN_DIR/slurmd-$(node_name "$1").pid"; }

# True when any daemon of the cluster, or any of its namespaces or its bridge, exists.
anything_running() {
  local pidfile program i
  while read -r pidfile program; do
    daemon_running "$pidfile" "$program" && return 0
  done < <(host_daemons)
  for i in $(present_nodes); do
    daemon_running "$(slurmd_pidfile "$i")" slurmd && return 0
  done
  ip link show "$BRIDGE" >/dev/null 2>&1 && return 0
  [ -n "$(cluster_netns)" ]
}

# Numbers of the nodes that have a namespace or a slurmd pid file, whatever the configured node count.
present_nodes() {
  {
    cluster_netns | sed 's/^mcnn-node//'
    find "$RUN_DIR" -maxdepth 1 -name 'slurmd-node*.pid' -printf '%f\n' 2>/dev/null |
      sed -n 's/^slurmd-node\([0-9]*\)\.pid$/\1/p'
  } | sort -un
}

# Names of this cluster's network namespaces that exist now.
cluster_netns() { ip netns list 2>/dev/null | awk '{print $1}' | grep '^mcnn-node[0-9]*$' || true; }

# ---------------------------------------------------------------------------------------- slow nodes

# A slowed node (node slow N PERCENT) runs in a group of the cgroup v1 cpu controller with a CPU quota: its
# slurmd and every process of its namespace are moved there, and every job step slurmd starts inherits it.
CPU_CGROUP_ROOT="/sys/fs/cgroup/cpu"
CFS_PERIOD_US=100000

node_cgroup() { echo "$CPU_CGROUP_ROOT/mcnn-devcluster-$(node_name "$1")"; }
# Where a slowed node's processes were in the cpu hierarchy before (a path below CPU_CGROUP_ROOT).
slow_origin_file() { echo "$RUN_DIR/slow-$(node_name "$1").cgroup"; }

# The cpu hierarchy's path of process PID ("/" at its root), from /proc/PID/cgroup.
cpu_cgroup_of() { awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3; exit}' "/proc/$1/cgroup"; }

# slow_node N PERCENT: node N's processes get PERCENT % of one core (a quota of PERCENT x 1 ms per 100 ms).
slow_node() {
  local i="$1" percent="$2" group pid pids
  [ -f "$CPU_CGROUP_ROOT/cgroup.procs" ] && [ -f "$CPU_CGROUP_ROOT/cpu.cfs_quota_us" ] ||
    die "no cgroup v1 cpu controller at $CPU_CGROUP_ROOT: cannot slow a node"
  pids="$(ip netns pids "$(node_netns "$i")" 2>/dev/null | xargs)"
  [ -n "$pids" ] || die "$(node_name "$i") runs no process (is its slurmd up?)"
  group="$(node_cgroup "$i")"
  if [ ! -d "$group" ]; then
    cpu_cgroup_of "${pids%% *}" >"$(slow_origin_file "$i")"
    mkdir "$group"
  fi
  echo "$CFS_PERIOD_US" >"$group/cpu.cfs_period_us"
  echo $((percent * CFS_PERIOD_US / 100)) >"$group/cpu.cfs_quota_us"
  for pid in $pids; do
    echo "$pid" >"$group/cgroup.procs" 2>/dev/null || true # a process may have ended meanwhile
  done
}

# unslow_group GROUP: moves GROUP's processes back where its node's were, and removes GROUP.
unslow_group() {
  local group="$1" node origin pid i
  node="${group##*/mcnn-devcluster-}"
  origin="$(cat "$RUN_DIR/slow-$node.cgroup" 2>/dev/null || echo /)"
  for ((i = 0; i < 50; i++)); do
    while read -r pid; do
      echo "$pid" >"$CPU_CGROUP_ROOT${origin%/}/cgroup.procs" 2>/dev/null || true
    done <"$group/cgroup.procs"
    rmdir "$group" 2>/dev/null && break
    sleep 0.1
  done
  [ ! -d "$group" ] || die "cannot remove $group: processes still in it: $(xargs <"$group/cgroup.procs")"
  rm -f "$RUN_DIR/slow-$node.cgroup"
}

# The cpu groups of slowed nodes that exist now.
slow_groups() { find "$CPU_CGROUP_ROOT" -maxdepth 1 -type d -name 'mcnn-devcluster-node*' 2>/dev/null || true; }

unslow_node() { [ ! -d "$(node_cgroup "$1")" ] || unslow_group "$(node_cgroup "$1")"; }

unslow_all() {
  local group
  for group in $(slow_groups); do unslow_group "$group"; done
}

# One line per slowed node: "nodeN PERCENT" (its quota in % of one core).
slowed_nodes() {
  local group
  for group in $(slow_groups); do
    echo "${group##*/mcnn-devcluster-} $(($(cat "$group/cpu.cfs_quota_us") * 100 / $(cat "$group/cpu.cfs_period_us")))"
  done
}

# -------------------------------------------------------------------------------------------- health

# "node state" lines from sinfo, one per node.
node_states() { sinfo -h -N -p "$PARTITION" -o '%N %T' 2>/dev/null | sort -u; }

# States of a node that responds and can take work; anything else (down, drained, a trailing * for
# "not responding", ...) is a problem.
HEALTHY_NODE_STATES="idle|allocated|mixed|completing|planned"

count_nodes_in() { node_states | awk '{print $2}' | grep -cE "^($1)\$" || true; }

ctld_running() { daemon_running "$RUN_DIR/slurmctld.pid" slurmctld; }

# Asks only a controller that runs here, so a stopped cluster causes no network traffic at all.
controller_answers() { ctld_running && scontrol ping 2>/dev/null | grep -q 'is UP'; }

# Prints one line per problem of a cluster of N nodes; prints nothing when it is healthy: every daemon
# alive, the controller answers, and all N nodes respond and accept work.
cluster_problems() {
  local n="$1" pidfile program i states
  [ "$n" -gt 0 ] || { echo "no cluster configured"; return; }
  while read -r pidfile program; do
    daemon_running "$pidfile" "$program" || echo "$program is not running"
  done < <(host_daemons)
  for ((i = 1; i <= n; i++)); do
    daemon_running "$(slurmd_pidfile "$i")" slurmd || echo "slurmd of $(node_name "$i") is not running"
  done
  controller_answers || { echo "the controller does not answer"; return; }
  states="$(node_states)"
  [ "$(wc -l <<<"$states")" -eq "$n" ] || echo "sinfo lists $(wc -l <<<"$states") nodes, not $n"
  awk -v ok="^($HEALTHY_NODE_STATES)\$" '$2 !~ ok {print $1 " is " $2}' <<<"$states"
}

cluster_healthy() { [ -z "$(cluster_problems "$1")" ]; }

# ------------------------------------------------------------------------------------------ teardown

# Cancels every job and waits (briefly) until the queue is empty, so accounting records them as
# CANCELLED instead of leaving them running in the saved state.
cancel_all_jobs() {
  local jobs i
  controller_answers || return 0
  jobs="$(squeue -h -o %i 2>/dev/null | xargs)"
  [ -n "$jobs" ] || return 0
  log "cancelling jobs: $jobs"
  # shellcheck disable=SC2086
  scancel $jobs 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    [ -z "$(squeue -h -t running,completing,pending -o %i 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  log "some jobs are still ending; their processes are killed with their nodes"
}

# Kills whatever still runs in a node's network namespace (slurmstepd and job tasks outlive slurmd).
# Processes are found by their namespace, never by name.
kill_netns_processes() {
  local ns="$1" pids i
  pids="$(ip netns pids "$ns" 2>/dev/null | xargs)"
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pids="$(ip netns pids "$ns" 2>/dev/null | xargs)"
    [ -n "$pids" ] || return 0
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
}

# Stops every node that has a namespace or a pid file, whatever the configured node count.
stop_nodes() {
  local i ns
  for i in $(present_nodes); do
    ns="$(node_netns "$i")"
    stop_daemon "$(slurmd_pidfile "$i")" slurmd
    if [ -e "/run/netns/$ns" ]; then
      kill_netns_processes "$ns"
      ip netns del "$ns" # also deletes the veth pair
    fi
  done
}

remove_bridge() {
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link del "$BRIDGE"
  fi
}

# Stops the host-side daemons in the reverse of their start order.
stop_host_daemons() {
  local pidfile program
  while read -r pidfile program; do
    stop_daemon "$pidfile" "$program"
  done < <(host_daemons | tac)
}

stop_cluster() {
  unslow_all
  cancel_all_jobs
  stop_nodes
  stop_host_daemons
  remove_bridge
}

print_env_hint() { echo "export SLURM_CONF=$SLURM_CONF_FILE"; }
