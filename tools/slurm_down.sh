#!/usr/bin/env bash
# Stop what slurm_up.sh started: jobs first, then slurmctld+slurmd (scontrol shutdown), then slurmdbd, MariaDB, munged by pid file.
D=${SLURM_TEST_DIR:-/tmp/slurm-local}
scancel --user="$(id -un)" 2>/dev/null
for i in $(seq 60); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
pids=$(cat "$D/slurmctld.pid" "$D/slurmd.pid" 2>/dev/null)
scontrol shutdown 2>/dev/null
for i in $(seq 40); do alive=0; for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done; [ $alive = 0 ] && break; sleep 0.25; done
for f in "$D/slurmdbd.pid" "$D/mariadb.pid" /run/munge/munged.pid; do
  [ -s "$f" ] && p=$(cat "$f") && kill "$p" 2>/dev/null && echo "stopped $(basename "$f" .pid) ($p)"
done
true
