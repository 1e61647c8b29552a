#!/usr/bin/env bash
# Status of one SLURM job for Snakemake's cluster-generic executor: prints running, success or
# failed. `sbatch --parsable` may print "ID;CLUSTER": keep the ID. squeue knows finished jobs for
# MinJobAge seconds (`-t all`); after that, sacct answers where accounting is enabled.
set -u
id="${1%%;*}"
state=$(squeue -h -j "$id" -t all -o %T 2>/dev/null | head -n 1)
if [ -z "$state" ]; then
  state=$(sacct -n -X -P -j "$id" -o State 2>/dev/null | head -n 1 | cut -d ' ' -f 1)
fi
case "$state" in
  PENDING|CONFIGURING|RUNNING|COMPLETING|REQUEUED|REQUEUE_HOLD|REQUEUE_FED|RESIZING|SUSPENDED|STAGE_OUT|SIGNALING)
    echo running ;;
  COMPLETED)
    echo success ;;
  "")
    echo "job $id: unknown to squeue and sacct (raise MinJobAge or enable accounting)" >&2
    echo failed ;;
  *)
    echo failed ;;
esac
