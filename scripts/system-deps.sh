#!/usr/bin/env bash
# Debian packages the browser and SLURM test tiers need: Chromium, nginx and openssl (the
# README's TLS proxy set-up, run by a browser test), and slurmctld/slurmd with munge; and
# jemalloc, which `attviz serve` uses where it is installed (memory given back).
# Installs only what is missing, and only as root with apt-get at hand.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v slurmctld >/dev/null 2>&1 || need+=(slurmctld)
command -v slurmd >/dev/null 2>&1 || need+=(slurmd)
command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
command -v munged >/dev/null 2>&1 || need+=(munge)
ldconfig -p 2>/dev/null | grep -q 'libjemalloc\.so\.2 ' || [ -e /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ] \
    || [ -e /usr/lib/aarch64-linux-gnu/libjemalloc.so.2 ] || need+=(libjemalloc2)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "attviz: missing ${need[*]}; install them (Debian: apt-get install ${need[*]})" >&2
    exit 1
fi
echo "attviz: installing ${need[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
