#!/usr/bin/env bash
# Single-node SLURM on this host, no systemd, no cgroups. Root, Debian 12.
# ACCOUNTING=1 adds slurmdbd + MariaDB so that sacct works (submitit needs it to see killed jobs).
# From /work/shared/slurm/RECIPE.md, plus: a second start does not re-register the cluster.
# Stop with tools/slurm_down.sh (jobs, slurmctld+slurmd, slurmdbd, MariaDB, munged, in that order).
set -euo pipefail
ACCOUNTING=${ACCOUNTING:-1}
D=${SLURM_TEST_DIR:-/tmp/slurm-local}
t0=$(date +%s.%N)
step() { awk -v t0="$t0" -v now="$(date +%s.%N)" -v s="$1" 'BEGIN { printf "%-34s %6.1f s\n", s, now - t0 }'; }

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
PKGS="slurmctld slurmd slurm-client munge"
[ "$ACCOUNTING" = 1 ] && PKGS="$PKGS slurmdbd mariadb-server"
apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
step "apt-get update+install"

mkdir -p "$D/state" "$D/spool" /etc/slurm
H=$(hostname)
if [ "$ACCOUNTING" = 1 ]; then
  ACCT="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux"
else
  ACCT="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi
cat > /etc/slurm/slurm.conf <<EOF
ClusterName=local
SlurmctldHost=$H
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=5
$ACCT
NodeName=$H CPUs=$(nproc) RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

# munge: Debian's postinst made /etc/munge/munge.key; the run dir is not created without systemd
mkdir -p /run/munge && chown munge:munge /run/munge
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged   # already up: keep it
step "munged"

if [ "$ACCOUNTING" = 1 ]; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  if ! pgrep -x mariadbd >/dev/null; then   # already up: keep it
    setsid mariadbd --user=mysql --bind-address=127.0.0.1 >"$D/mariadb.log" 2>&1 < /dev/null &
    echo $! > "$D/mariadb.pid"
  fi
  for i in $(seq 100); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 0.1; done
  mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  step "mariadb"
  install -m 600 /dev/stdin /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$D/slurmdbd.pid
LogFile=$D/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  pgrep -x slurmdbd >/dev/null || /usr/sbin/slurmdbd
  for i in $(seq 100); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2; done
  # MariaDB keeps its data in /var/lib/mysql: on a second start the cluster is registered already (sacctmgr exits 1)
  sacctmgr -n list cluster format=cluster | grep -qw local || sacctmgr -i add cluster local >/dev/null
  step "slurmdbd + cluster registered"
fi

pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
for i in $(seq 100); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 0.2; done
sinfo
step "slurmctld + slurmd, node idle"
