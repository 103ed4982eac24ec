#!/usr/bin/env bash
# The attviz demo: fine-tune MiniLM on the BBC news corpus, precompute the held-out split,
# and serve the explorer. Both steps are reused on a second run, which serves in seconds.
#   scripts/demo.sh        (needs ../shared/data/bbc/bbc-news.csv beside the repository)
#   PORT=5007 scripts/demo.sh      ADDRESS=0.0.0.0 scripts/demo.sh   (reachable from elsewhere)
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
    --out "$work/bbc-heldout.h5" --text-column text --label-column category --id-column id \
    --importance
$attviz info "$work/bbc-heldout.h5" | head -5
port="${PORT:-5006}"
address="${ADDRESS:-127.0.0.1}"
echo
echo "attviz demo: serving the explorer at http://$address:$port/apps  (Ctrl-C stops it)"
exec .venv/bin/panel serve apps/ --port "$port" --address "$address" \
    --allow-websocket-origin "$address:$port" --allow-websocket-origin "localhost:$port" \
    --args --store "$work/bbc-heldout.h5"
