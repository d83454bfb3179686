#!/usr/bin/env bash
# A single-node SLURM on this machine (CPUs only), for the tests marked `slurm` and for trying
# `spinegui experiment --executor slurm` without a cluster. Needs root and Debian's slurm-wlm + munge
# (installed here when missing). Facts behind the settings: ../shared/SLURM_LOCAL.md, in short:
# no systemd (we start munged, slurmctld and slurmd ourselves), proctrack/linuxproc (the cgroup
# default silently "completes" every job without running it where the freezer controller is missing).
#
#   scripts/slurm_local.sh start    prints the line to source: export SLURM_CONF=...
#   scripts/slurm_local.sh stop     stops the daemons it started and removes its folders
#   scripts/slurm_local.sh status   exit 0 when the node answers
set -euo pipefail
DIR="${SPINEGUI_SLURM_DIR:-/var/spool/spinegui-slurm}"
CONF="$DIR/slurm.conf"
export SLURM_CONF="$CONF"

need_root() { [ "$(id -u)" = 0 ] || { echo "slurm_local.sh: run as root (it starts munged, slurmctld, slurmd)" >&2; exit 2; }; }

install_packages() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return
  command -v apt-get >/dev/null || { echo "slurm_local.sh: no slurmctld and no apt-get to install slurm-wlm" >&2; exit 2; }
  apt-get update -qq >/dev/null && apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_conf() {
  local host cpus mem
  host="$(hostname -s)"
  cpus="$(nproc)"
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))   # 80% of RAM, in MB
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
  cat > "$CONF" <<EOF
ClusterName=spinegui-local
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
KillWait=2
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  pgrep -x munged >/dev/null && return
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  [ -f /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || /usr/sbin/create-munge-key -f; }
  setpriv --reuid=munge --regid=munge --clear-groups munged -F >"$DIR/log/munged.log" 2>&1 &
  echo $! > "$DIR/munged.pid"
  for _ in $(seq 50); do munge -n >/dev/null 2>&1 && return; sleep 0.1; done
  echo "slurm_local.sh: munged did not start (see $DIR/log/munged.log)" >&2; exit 1
}

start() {
  need_root
  install_packages
  # already up (ours): sinfo would wait a minute for a controller that is not there, so ask only then
  if [ -f "$DIR/slurmctld.daemon" ] && kill -0 "$(cat "$DIR/slurmctld.daemon")" 2>/dev/null; then
    echo "export SLURM_CONF=$CONF"; return
  fi
  write_conf
  start_munge
  slurmctld -D -i >>"$DIR/log/slurmctld.out" 2>&1 &
  echo $! > "$DIR/slurmctld.daemon"
  slurmd -D >>"$DIR/log/slurmd.out" 2>&1 &
  echo $! > "$DIR/slurmd.daemon"
  for _ in $(seq 100); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "export SLURM_CONF=$CONF"; return
    fi
    sleep 0.2
  done
  echo "slurm_local.sh: the node did not come up (see $DIR/log)" >&2; exit 1
}

stop() {
  need_root
  for f in slurmd.daemon slurmctld.daemon munged.pid; do
    [ -f "$DIR/$f" ] || continue
    pid="$(cat "$DIR/$f")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  case "$DIR" in /var/spool/spinegui-slurm*|/tmp/*) rm -rf "$DIR" ;; esac   # only a folder of ours
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) [ -f "$CONF" ] && timeout 10 sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
