#!/usr/bin/env bash
# A one-node SLURM cluster on loopback, for tests and for trying `wi sweep --backend slurm`.
#
#   scripts/slurm-local.sh start [DIR]   start munged, slurmctld and slurmd (as root); every
#                                        file (config, key, state, spool, logs, pids) lives
#                                        under DIR (default: a new /tmp/wi-slurm.XXXXXX).
#                                        The last line on stdout is `export SLURM_CONF=...`:
#                                        eval "$(scripts/slurm-local.sh start | tail -1)"
#   scripts/slurm-local.sh stop [DIR]    stop the daemons started there (by their pid files)
#                                        and remove DIR; DIR defaults to $(dirname $SLURM_CONF).
#   scripts/slurm-local.sh status [DIR]  sinfo of that cluster
#
# Needs slurm-wlm and munge (scripts/install-slurm.sh). Works with slurm-wlm 22.05 (Debian
# bookworm) without cgroups or systemd: proctrack/linuxproc, task/none, cons_tres with CR_CPU.
# The host name does not matter (the node is `localhost` at 127.0.0.1, slurmd -N localhost).
# Ports are picked free at start, so several clusters (or a system one) can coexist.
set -euo pipefail

die() { echo "slurm-local: $*" >&2; exit 2; }
log() { echo "slurm-local: $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then return 1; fi
    sleep 0.2
  done
}

start() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (munged runs as user munge, slurmd as root)"
  for exe in munged munge slurmctld slurmd sinfo sbatch; do
    command -v "$exe" >/dev/null || die "$exe not found; run scripts/install-slurm.sh"
  done
  id munge >/dev/null 2>&1 || die "no user 'munge' (is the munge package installed?)"
  local dir=${1:-}
  if [[ -z $dir ]]; then dir=$(mktemp -d /tmp/wi-slurm.XXXXXX); fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  chmod 0755 "$dir"  # munged (user munge) must traverse it
  mkdir -p "$dir"/{munge,state,spool,logs,pids}
  chmod 0755 "$dir/spool"
  chown munge:munge "$dir/munge"
  chmod 0755 "$dir/munge"  # the socket directory must be searchable by all

  # munge: own key, socket, pid and log, so a system munged (if any) is left alone
  local msock="$dir/munge/munge.socket"
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chown munge:munge "$dir/munge/munge.key"
  chmod 0400 "$dir/munge/munge.key"
  runuser -u munge -- munged --socket="$msock" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed" --num-threads=2 \
    || die "munged failed to start; see $dir/munge/munged.log"
  wait_for 10 munged munge --socket="$msock" -n || die "munged does not answer on $msock"
  ln -sf "$dir/munge/munged.pid" "$dir/pids/munged.pid"

  local nproc ctl_port d_port
  nproc=$(nproc)
  ctl_port=$(free_port)
  d_port=$(free_port)
  while [[ $d_port == "$ctl_port" ]]; do d_port=$(free_port); done
  cat >"$dir/slurm.conf" <<EOF
# written by scripts/slurm-local.sh
ClusterName=wilocal
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$msock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/pids/slurmctld.pid
SlurmdPidFile=$dir/pids/slurmd.pid
SlurmctldLogFile=$dir/logs/slurmctld.log
SlurmdLogFile=$dir/logs/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$nproc State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -i || die "slurmctld failed to start; see $dir/logs/slurmctld.log"
  wait_for 20 slurmctld sinfo -h || die "slurmctld does not answer; see $dir/logs/slurmctld.log"
  slurmd -N localhost || die "slurmd failed to start; see $dir/logs/slurmd.log"
  node_idle() { sinfo -h -N -o %T | grep -Eq '^(idle|mixed|allocated)'; }
  wait_for 30 slurmd node_idle || die "node not idle after 30 s: $(sinfo -h -N -o %T); see $dir/logs"
  log "cluster up in $dir ($nproc CPUs, ports $ctl_port/$d_port)"
  echo "export SLURM_CONF=$dir/slurm.conf"
}

stop_pids() {  # stop_pids PIDFILE...: TERM to all, wait up to 15 s, then KILL what is left
  local file pid pids=()
  for file in "$@"; do
    [[ -f $file ]] || continue
    pid=$(cat "$file" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  done
  local end=$((SECONDS + 15)) alive
  while :; do
    alive=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    ((${#alive[@]} == 0)) && return 0
    if ((SECONDS >= end)); then
      log "pids ${alive[*]} did not stop; sending KILL"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      return 0
    fi
    sleep 0.05
  done
}

stop() {
  local dir=${1:-}
  if [[ -z $dir ]]; then
    [[ -n ${SLURM_CONF:-} ]] || die "give the cluster directory or set SLURM_CONF"
    dir=$(dirname "$SLURM_CONF")
  fi
  [[ -f $dir/slurm.conf ]] || die "$dir is not a cluster started by slurm-local.sh"
  grep -q '^# written by scripts/slurm-local.sh' "$dir/slurm.conf" ||
    die "$dir/slurm.conf was not written by slurm-local.sh"
  stop_pids "$dir/pids/slurmd.pid" "$dir/pids/slurmctld.pid"
  stop_pids "$dir/munge/munged.pid"  # last: the slurm daemons authenticate through it
  rm -rf "$dir"
  log "stopped; removed $dir"
}

status() {
  local dir=${1:-$(dirname "${SLURM_CONF:-/nonexistent/x}")}
  SLURM_CONF="$dir/slurm.conf" sinfo
}

case ${1:-} in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  status) shift; status "$@" ;;
  *) echo "usage: $0 start [DIR] | stop [DIR] | status [DIR]" >&2; exit 2 ;;
esac
