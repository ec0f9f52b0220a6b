#!/bin/bash
# Stop the single-node Slurm of start-local.sh (slurmd, slurmctld, munged).
for daemon in slurmd slurmctld munged; do
  pkill -x "$daemon" 2>/dev/null || true
done
for _ in $(seq 20); do
  pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || pgrep -x munged >/dev/null || exit 0
  sleep 0.5
done
