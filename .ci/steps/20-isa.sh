#!/usr/bin/env bash
# Every kernel path, not only the fastest: the README's test run used the ISA that
# dispatch picks on this CPU (AVX-512 on the CI machine); this step reruns the native
# kernel suites once per OTHER ISA the machine has (baseline, avx2), forced with
# FASTDL_ISA. Each run checks every kernel against its NumPy twin (and torch) and the
# 1-vs-2-thread bitwise equality that the suites assert, with that ISA's kernel table.
#
# Suites: tests/ops, plus the property and determinism suites when they exist
# (tests/properties, tests/test_determinism*.py). Left out, because no ISA reaches
# them: tests/reference (NumPy twins only, never the native module) and pooling
# (Cython, compiled once without ISA flags); and the tests that already spawn one
# process per ISA themselves (test_each_isa, test_isa_path_matches_reference).
# Time: 80 s of CPU per ISA, 2.6 min in all (5 min wall on the shared development
# machine at load ~7; about 3 min on an idle 2-core one).
set -euo pipefail
venv=${FASTDL_CI_VENV:?FASTDL_CI_VENV must name the venv fastdl is installed in}
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# From a folder outside the checkout, so that the installed fastdl is the one imported.
others=$(cd "$tmp" && env -u FASTDL_ISA "$venv/bin/python" -c \
  "import fastdl; i = fastdl.build_info(); print(' '.join(a for a in i['isa_available'] if a != i['isa']))")
if [ -z "$others" ]; then
  echo "20-isa: this machine has only the default ISA; nothing more to run"
  exit 0
fi

suites=(tests/ops)
[ -d tests/properties ] && suites+=(tests/properties)
for f in tests/test_determinism*.py; do [ -e "$f" ] && suites+=("$f"); done

for isa in $others; do
  got=$(cd "$tmp" && FASTDL_ISA=$isa "$venv/bin/python" -c \
    "import fastdl; print(fastdl.build_info()['isa'])")
  if [ "$got" != "$isa" ]; then
    echo "20-isa: FASTDL_ISA=$isa gave the $got kernels" >&2
    exit 1
  fi
  echo "+ FASTDL_ISA=$isa pytest ${suites[*]}"
  start=$(date +%s)
  # From the temporary folder (`python -m pytest` puts its working directory first on
  # sys.path: from the checkout, `import fastdl` would find the source folder); the
  # suites' paths lead pytest to the checkout's pyproject.toml and its settings.
  (cd "$tmp" && FASTDL_ISA=$isa "$venv/bin/python" -m pytest -q -p no:cacheprovider \
     "${suites[@]/#/$root/}" --ignore="$root/tests/ops/test_pooling.py" \
     --ignore-glob='*pooling_propert*' \
     -k 'not test_each_isa and not test_isa_path_matches_reference')
  echo "20-isa: $isa passed in $(( $(date +%s) - start )) s"
done
