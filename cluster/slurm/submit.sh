#!/bin/bash
# Grade a class on a Slurm cluster: N array tasks (one shard each), then a merge job that waits for all of them.
#   cluster/slurm/submit.sh SUBMISSIONS OUT N      (prints the merge job's id)
# Run it from the course checkout (its solutions/ are the course; or set DLPHYS_SOLUTIONS).
# SUBMISSIONS and OUT must be on a file system every node sees. The class's secret (the seed of the grader's
# inputs) is made here once, in OUT/.grading-secret, readable by the owner only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SUBMISSIONS=$(cd "$1" && pwd)
mkdir -p "$2"
OUT=$(cd "$2" && pwd)
N=$3
export DLPHYS_SOLUTIONS=${DLPHYS_SOLUTIONS:-$(pwd)/solutions}
[ -d "$DLPHYS_SOLUTIONS" ] || { echo "submit.sh: no solutions in $DLPHYS_SOLUTIONS (run it from the checkout)" >&2; exit 2; }
umask 077
[ -s "$OUT/.grading-secret" ] || "${DLPHYS_PYTHON:-python3}" -c "import secrets; print(secrets.token_hex(32))" > "$OUT/.grading-secret"
array=$(sbatch --parsable --chdir="$OUT" --array="0-$((N - 1))" "$here/grade-array.sbatch" "$SUBMISSIONS" "$OUT")
array=${array%%;*}
sbatch --parsable --chdir="$OUT" --dependency="afterok:$array" "$here/merge.sbatch" "$OUT" "$N"
