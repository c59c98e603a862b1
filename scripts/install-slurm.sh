#!/usr/bin/env bash
# Install Debian's slurm-wlm and munge (for `wi sweep --backend slurm` and the slurm tests).
# Idempotent: does nothing when sbatch, slurmctld, slurmd and munged are already there.
# Needs root for apt-get; without root it only reports what is missing (exit 0, so a CI or
# developer run without root goes on, and the slurm tests say why they skip).
set -euo pipefail
missing=()
for exe in sbatch squeue slurmctld slurmd munged; do
  command -v "$exe" >/dev/null 2>&1 || missing+=("$exe")
done
if ((${#missing[@]} == 0)); then
  echo "install-slurm: slurm-wlm and munge already installed ($(slurmctld -V))"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-slurm: missing ${missing[*]}; not root, so not installing (the slurm tests skip)" >&2
  exit 0
fi
command -v apt-get >/dev/null || { echo "install-slurm: no apt-get; install slurm-wlm and munge by hand" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
echo "install-slurm: installed $(slurmctld -V)"
