#!/usr/bin/env bash
# Stop what slurm_up.sh started: jobs first, then slurmctld+slurmd (scontrol shutdown), then slurmdbd, MariaDB, munged by pid file.
# From /work/shared/slurm/RECIPE.md, plus: each daemon is waited for (at most 10 s; a zombie counts as gone), so that
# slurm_up.sh can follow at once without meeting the old MariaDB on its port.
D=${SLURM_TEST_DIR:-/tmp/slurm-local}
gone() { ! grep -qs '^State:[[:space:]]*[^Z]' "/proc/$1/status"; }  # no such process, or a zombie nobody reaped
scancel --user="$(id -un)" 2>/dev/null
for i in $(seq 60); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
pids=$(cat "$D/slurmctld.pid" "$D/slurmd.pid" 2>/dev/null)
scontrol shutdown 2>/dev/null
for i in $(seq 40); do alive=0; for p in $pids; do gone "$p" || alive=1; done; [ $alive = 0 ] && break; sleep 0.25; done
for f in "$D/slurmdbd.pid" "$D/mariadb.pid" /run/munge/munged.pid; do
  [ -s "$f" ] || continue
  p=$(cat "$f")
  kill "$p" 2>/dev/null && echo "stopped $(basename "$f" .pid) ($p)"
  for i in $(seq 40); do gone "$p" && break; sleep 0.25; done
done
true
