#!/usr/bin/env bash
# Set up (or update) .venv, install what the test tiers need, check the code with ruff and
# run the tests.
#   scripts/test.sh [pytest arguments]      e.g. scripts/test.sh -m "not slurm"
# Debian packages for the browser and SLURM tiers are installed when missing and this runs
# as root; elsewhere those tiers skip, except in CI (CI=true), where they fail.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup-venv.sh
scripts/system-deps.sh || echo "attviz: could not install system packages; some test tiers may skip (or fail under CI=true)" >&2
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
