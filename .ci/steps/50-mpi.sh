#!/usr/bin/env bash
# Data-parallel training over MPI (issue 11): installs Open MPI from Debian's packages
# and mpi4py (a binary wheel) into the CI venv, then runs tests/test_distributed.py with
# FASTDL_REQUIRE_MPI=1, so that a missing mpirun or mpi4py fails instead of skipping:
# 2-process runs under mpirun (ranks identical and equal to one process, checkpoint
# resume in 2 and 1 processes, a failing rank ending the job). About 35 s on a clean
# 2-core machine: apt ~15 s (39 packages without the recommends), mpi4py ~2 s (a
# binary wheel), the tests ~15-20 s.
set -euo pipefail

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v mpirun >/dev/null 2>&1; then
  install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends
           openmpi-bin libopenmpi-dev)
  # a fresh machine may have no package lists yet: update only when the install needs it
  $sudo "${install[@]}" >/dev/null || { $sudo apt-get update -qq && $sudo "${install[@]}" >/dev/null; }
fi
mpirun --version | head -n 1

"$FASTDL_CI_VENV/bin/python" -m pip install --quiet "mpi4py>=3.1"
# from a temporary folder, so that the installed fastdl is imported, not the source one
root=$(pwd)
cd "$(mktemp -d)"
FASTDL_REQUIRE_MPI=1 "$FASTDL_CI_VENV/bin/python" -m pytest -q -p no:cacheprovider \
  "$root/tests/test_distributed.py"
