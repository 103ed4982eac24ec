#!/usr/bin/env bash
# Submit an attviz precompute as a SLURM array of N shards plus a merge job.
#
#   precompute/submit.sh --shards N [--wait] [--partition P] [--gres G] [--cpus-per-task N]
#       [--mem M] [--time T] [--requeue] [--account A] [--sbatch-arg ARG ...]
#       -- <arguments of attviz precompute, including --out STORE.h5>
#
# Task i of N writes OUT.shards/shard-0000i-of-0000N.h5 (the name `attviz shard-name i N`
# prints), a contiguous range of whole documents; the merge job runs after the whole array
# succeeded (afterok) and writes OUT.
# Prints the array and merge job ids. With --wait it waits for the merge and exits non-zero
# unless every task and the merge succeeded and OUT is a complete store (sbatch --wait alone
# returns 0 even when a dependent job was cancelled). Resubmitting the same command after a
# failure reuses finished shards and resumes unfinished ones from their last block.
# --sbatch-arg passes one more argument to both sbatch calls (repeat it for several).
#
# GPU partition:  --partition gpu --gres gpu:1 --cpus-per-task 4 --mem 32G -- ... --device cuda --dtype float16
# CPU partition:  --partition cpu --cpus-per-task 8 --mem 16G -- ... --device cpu
set -euo pipefail
trap 'echo "submit.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }
die() { echo "submit.sh: $*" >&2; exit 2; }

shards="" wait=0 requeue=0 opts=() extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --shards) shards="${2:-}"; shift 2 ;;
        --wait) wait=1; shift ;;
        --requeue) requeue=1; shift ;;
        --partition|--gres|--cpus-per-task|--mem|--time|--account)
            [ $# -ge 2 ] || die "$1 needs a value"
            opts+=("$1=$2"); shift 2 ;;
        --sbatch-arg) [ $# -ge 2 ] || die "--sbatch-arg needs a value"; extra+=("$2"); shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        *) die "unknown option $1 (attviz precompute arguments go after --; see --help)" ;;
    esac
done
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || die "--shards N (a positive number) is required"
[ $# -gt 0 ] || die "give the arguments of attviz precompute after --"
command -v sbatch >/dev/null || die "sbatch not found: is SLURM installed here?"

# Split off --out; everything else goes to every task unchanged.
out="" args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="${2:-}"; shift 2 ;;
        --out=*) out="${1#--out=}"; shift ;;
        --shard|--shards|--shard=*|--shards=*) die "$1 is set by submit.sh" ;;
        *) args+=("$1"); shift ;;
    esac
done
[ -n "$out" ] || die "attviz precompute needs --out STORE.h5"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
attviz="${ATTVIZ:-}"
if [ -z "$attviz" ]; then
    if [ -x "$here/../.venv/bin/attviz" ]; then attviz="$(cd "$here/.." && pwd)/.venv/bin/attviz"
    else attviz="$(command -v attviz || true)"; fi
fi
[ -x "$attviz" ] || die "attviz not found (set ATTVIZ=/path/to/attviz)"
# shard store names come from attviz, which reads them as one store
shard_names=$("$attviz" shard-name all "$shards") || die "$attviz shard-name failed"
any_shard=$("$attviz" shard-name '*' '*') && these_shards=$("$attviz" shard-name '*' "$shards") \
    || die "$attviz shard-name failed"

out_dir=$(cd "$(dirname "$out")" 2>/dev/null && pwd) || die "the folder of --out $out does not exist"
out_abs="$out_dir/$(basename "$out")"
shard_dir="$out_abs.shards"
# sbatch --export splits on commas and --output expands %: such paths cannot be passed on
for p in "$out_abs" "$attviz" "$PWD"; do
    case "$p" in *,*|*%*) die "paths with ',' or '%' are not supported by sbatch --export/--output: $p" ;; esac
done
# shards of an earlier submission with another --shards would not merge with these
others=$(find "$shard_dir" -maxdepth 1 -name "$any_shard*" ! -name "$these_shards*" 2>/dev/null | head -3 || true)
[ -z "$others" ] && [ -n "$shard_dir" ] || die "$shard_dir holds shards of a submission with another --shards ($(basename "$(echo "$others" | head -1)")); remove them or use the same --shards"
mkdir -p "$shard_dir/logs"
common=(--parsable --chdir "$PWD" "${opts[@]}" "${extra[@]}")
[ "$requeue" = 1 ] && common+=(--requeue)
env_vars="ALL,ATTVIZ=$attviz,ATTVIZ_SHARDS=$shard_dir,ATTVIZ_OUT=$out_abs"

submitted=$(date +%s)
array_id=$(sbatch "${common[@]}" --array="0-$((shards - 1))" --export="$env_vars" \
    --output="$shard_dir/logs/shard-%A_%a.out" "$here/attviz-shard.sbatch" "${args[@]}")
array_id="${array_id%%;*}"
merge_id=$(sbatch "${common[@]}" --dependency="afterok:$array_id" --kill-on-invalid-dep=yes \
    --export="$env_vars" --output="$shard_dir/logs/merge-%j.out" "$here/attviz-merge.sbatch")
merge_id="${merge_id%%;*}"
echo "array job $array_id ($shards shards -> $shard_dir)"
echo "merge job $merge_id (-> $out_abs)"
[ "$wait" = 1 ] || exit 0

# Wait until neither job is known to the scheduler any more, remembering the last states seen.
declare -A state
errors=0
while :; do
    # all of this user's jobs (asking for ids fails once finished jobs are purged), then ours
    if ! all=$(squeue -h -u "$(id -un)" -o '%i %T' 2>/dev/null); then
        # the controller did not answer: ask again, then give up
        errors=$((errors + 1))
        [ "$errors" -lt 30 ] || { echo "submit.sh: squeue keeps failing; check the jobs yourself" >&2; exit 1; }
        sleep 2
        continue
    fi
    errors=0
    lines=$(grep -E "^(${array_id}(_[0-9\[].*)?|${merge_id}) " <<< "$all" || true)
    [ -z "$lines" ] && break
    while read -r id st; do [ -n "$id" ] && state[$id]=$st; done <<< "$lines"
    sleep 2
done
for id in "${!state[@]}"; do echo "  $id: last seen ${state[$id]}"; done | sort
fail=0
i=0
while read -r name; do
    f="$shard_dir/$name"
    [ -f "$f" ] || { echo "submit.sh: shard $i did not finish ($f missing; see $shard_dir/logs)" >&2; fail=1; }
    i=$((i + 1))
done <<< "$shard_names"
# The merged store must be complete and written by this submission's merge job.
if [ "$fail" = 0 ] && [ -f "$out_abs" ] && [ "$(stat -c %Y "$out_abs")" -ge "$submitted" ] \
        && "$attviz" info "$out_abs" --json > /dev/null 2>&1; then
    echo "done: $out_abs"
    exit 0
fi
echo "submit.sh: the merged store $out_abs was not written by this submission (see $shard_dir/logs)" >&2
exit 1
