#!/usr/bin/env bash
# Create or update the project's virtual environment (.venv) and install attviz into it,
# with the extras the demo and the tests need.
#
# On a machine without an NVIDIA GPU torch is pinned through constraints-cpu.txt to the
# CPU build, so no CUDA wheels are downloaded. With a GPU the open range in pyproject.toml
# applies and pip picks a CUDA build. A second call with nothing changed returns at once.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
py="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    echo "attviz: creating $venv" >&2
    "$py" -m venv "$venv"
fi

constraints=()
if ! command -v nvidia-smi >/dev/null 2>&1; then
    constraints=(-c "$root/constraints-cpu.txt")
fi

stamp="$venv/.attviz-setup"
want="$(cat "$root/pyproject.toml" "$root/constraints-cpu.txt" | sha256sum | cut -c1-16) ${#constraints[@]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && "$venv/bin/python" -c "import attviz" >/dev/null 2>&1; then
    exit 0
fi

echo "attviz: installing attviz[demo,test] into $venv (the first run takes a minute or two)" >&2
# pip warns about each configured local index folder that does not exist; not our concern
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
if [ ${#constraints[@]} -gt 0 ]; then
    # The pinned CPU build first, alone, so that no resolver step reaches for a CUDA build.
    quiet "$venv/bin/python" -m pip install --quiet "${constraints[@]}" torch
fi
quiet "$venv/bin/python" -m pip install --quiet "${constraints[@]}" -e "$root[demo,test]"
echo "$want" > "$stamp"
