#!/usr/bin/env bash
# The attviz demo: fine-tune MiniLM on the BBC news corpus, precompute the held-out split,
# and show the store. Both steps are reused on a second run.
#   scripts/demo.sh        (needs ../shared/data/bbc/bbc-news.csv beside the repository)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup-venv.sh
data="${ATTVIZ_BBC:-$root/../shared/data/bbc/bbc-news.csv}"
work="${ATTVIZ_DEMO_DIR:-$root/demo-data}"
if [ ! -f "$data" ]; then
    echo "attviz demo: $data not found (set ATTVIZ_BBC to the BBC news CSV)" >&2
    exit 1
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
attviz=.venv/bin/attviz
$attviz finetune --data "$data" --text-column text --label-column category --id-column id \
    --out "$work/bbc-model"
$attviz precompute --model "$work/bbc-model" --data "$work/bbc-model/heldout.csv" \
    --out "$work/bbc-heldout.h5" --text-column text --label-column category --id-column id
$attviz info "$work/bbc-heldout.h5"
