#!/usr/bin/env bash
# A real single-node Slurm on this machine, for trying `hydra/launcher=slurm` and for the `slurm` tests:
#   scripts/slurm_local.sh start    # install slurm-wlm + munge when missing (as root), start munged, slurmctld, slurmd
#   scripts/slurm_local.sh status   # sinfo + squeue; exit 0 when the node answers
#   scripts/slurm_local.sh stop     # cancel every job, stop the three daemons, delete the cluster's state
#   scripts/slurm_local.sh install  # only the Debian packages (what .ci/run calls)
# One partition `debug` holds this machine's CPUs and memory (as `slurmd -C` reports them). Process
# tracking is proctrack/linuxproc and task/none: they need no cgroups, which containers rarely give.
# No accounting daemon: `sacct` says "accounting storage is disabled", as on many small clusters.
# Runs as root (Slurm's daemons need it); idempotent: `start` on a running cluster just reports it.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# written by scripts/slurm_local.sh"   # the only slurm.conf that `stop` deletes is one carrying this mark
STATE=/var/lib/slurm-local                  # slurmctld state, slurmd spool, logs
RUN=/run/slurm-local                        # pid files of the daemons started here
MUNGE_PID=$RUN/munged.pid
PARTITION=debug

say() { echo "slurm_local: $*"; }
die() { echo "slurm_local: $*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" = 0 ] || die "$1 needs root (Slurm's daemons and apt-get do); run it with sudo, or as root in a container."
}

installed() { command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sinfo >/dev/null && command -v munged >/dev/null; }

install_packages() {
  installed && return 0
  need_root "installing slurm-wlm and munge"
  command -v apt-get >/dev/null || die "Slurm is not installed and this is not a Debian/Ubuntu system (no apt-get); install slurm-wlm and munge (Slurm >= 22.05) by hand."
  say "installing slurm-wlm and munge from the distribution's packages"
  export DEBIAN_FRONTEND=noninteractive
  # Another apt-get may be running (CI images install several things): wait for its lock rather than fail.
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  installed || die "apt-get finished but slurmctld/slurmd/sinfo/munged are still missing"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_ready() {  # the partition's node answers and can run jobs
  local state
  state=$(timeout 5 sinfo -h -p "$PARTITION" -o %T 2>/dev/null | head -1) || return 1
  case "$state" in idle*|mixed*|allocated*|completing*) return 0 ;; *) return 1 ;; esac
}

write_conf() {
  if [ -f "$CONF" ] && ! grep -qxF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script (a real cluster's config?); not touching it. Move it away to use the local test cluster."
  fi
  local node_line host
  host=$(hostname -s)
  # `slurmd -C` prints this machine's real CPUs/sockets/cores/threads/memory: a node declared bigger
  # than it is would be drained ("Low RealMemory").
  node_line=$(slurmd -C | head -1)
  mkdir -p "$(dirname "$CONF")"
  cat >"$CONF" <<EOF
$MARK
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
# Short waits, so that tests and tries turn around in seconds. cred_expire is also how long a
# requeued job waits before it may start again (default 120 s).
AuthInfo=cred_expire=10
KillWait=5
MinJobAge=300
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  install_packages
  need_root "starting Slurm"
  if alive "$RUN/slurmctld.pid" && alive "$RUN/slurmd.pid" && node_ready; then
    say "already running: partition $PARTITION"; sinfo -p "$PARTITION"; return 0
  fi
  mkdir -p "$STATE/ctld" "$STATE/d" "$RUN" /run/munge /var/log/munge /var/lib/munge
  write_conf
  if ! timeout 5 munge -n </dev/null >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || { say "creating /etc/munge/munge.key"; mungekey --create --force 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; }
    chown -R root:root /etc/munge /run/munge /var/log/munge /var/lib/munge   # munged runs as root here
    chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key
    munged --force --pid-file="$MUNGE_PID" 2>/dev/null || munged --force
  fi
  alive "$RUN/slurmctld.pid" || slurmctld -i
  alive "$RUN/slurmd.pid" || slurmd
  local host; host=$(hostname -s)
  for _ in $(seq 1 60); do
    node_ready && { say "up: partition $PARTITION on $host"; sinfo -p "$PARTITION"; return 0; }
    # A node that was down in a previous life (e.g. killed daemons) comes back by hand.
    scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true
    sleep 0.5
  done
  die "Slurm did not come up within 30 s; see $STATE/slurmctld.log and $STATE/slurmd.log"
}

stop_daemon() {  # $1: pid file; the daemons started here, by their pid (never by name)
  local pid
  alive "$1" || { rm -f "$1"; return 0; }
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$1"
}

stop() {
  if alive "$RUN/slurmctld.pid"; then
    timeout 10 scancel --full --user="$(id -un)" 2>/dev/null || true
  fi
  stop_daemon "$RUN/slurmd.pid"
  stop_daemon "$RUN/slurmctld.pid"
  stop_daemon "$MUNGE_PID"
  rm -rf "$STATE" "$RUN"
  if [ -f "$CONF" ] && grep -qxF "$MARK" "$CONF"; then rm -f "$CONF"; fi
  say "stopped; state removed"
}

status() {
  if alive "$RUN/slurmctld.pid" && node_ready; then
    sinfo -p "$PARTITION"; squeue; return 0
  fi
  say "not running (start it with: scripts/slurm_local.sh start)"; return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  install) install_packages; say "slurm-wlm and munge are installed" ;;
  *) echo "usage: $0 start|stop|status|install" >&2; exit 2 ;;
esac
