#!/usr/bin/env bash
# Sanitizer step: builds fastdl with AddressSanitizer + UndefinedBehaviorSanitizer
# (CMake FASTDL_SANITIZE=ON) and runs the kernel tests under it; any report fails the
# step (both sanitizers halt on the first one, and the report is printed).
#
# Covers _core (every native kernel family: optimizer steps, batch norm, GEMM/linear,
# convolution, im2col/col2im) and the Cython pooling module, on the baseline ISA unit and
# the best one this CPU runs (FASTDL_ISAS: each ISA source compiled twice, not three
# times; the avx2 unit is left out on an AVX-512 machine). Tests: tests/ops and
# tests/reference (the NumPy twins, which call the native ops in their parity checks),
# plus the property and determinism suites when present. Torch-parity tests run too
# (torch loads fine under the preloaded runtimes). LeakSanitizer is off for the Python
# process (detect_leaks=0: CPython and NumPy keep module-lifetime allocations); leaks are
# checked by tests/ops/test_hardening.py (resident memory flat over 10,000 optimizer
# steps and 1,000 rounds of the allocating kernels) and were checked once under valgrind.
#
# Time (2-core machine, measured): 283 s in all on a quiet machine (build 240 s, 2,599
# tests 41 s); on one shared with three other builds 1,400 s (build 1,160 s, tests
# 235 s). FASTDL_SANITIZE_BUILD_DIR keeps the build between local runs. Leaving avx2 out
# saves a third of the ISA compiles; FASTDL_ISAS="baseline;avx2;avx512" would cover it
# too (its test_each_isa subprocess checks then run it under the sanitizers).
set -euo pipefail
root=$(pwd)
py="$FASTDL_CI_VENV/bin/python"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build_dir=${FASTDL_SANITIZE_BUILD_DIR:-$work/build}

# The ISA units: baseline plus the best this CPU has (the one the tests dispatch to), as
# the CI venv's fastdl chose it at import (from a folder outside the checkout).
best=$(cd "$work" && env -u FASTDL_ISA "$py" -c 'import fastdl; print(fastdl.build_info()["isa"])')
isas="baseline"
[ "$best" = baseline ] || isas="baseline;$best"

# A venv of its own that sees the CI venv's packages (numpy, pytest, hypothesis, torch)
# through a .pth line, after its own site-packages: the sanitized fastdl installed here
# shadows the CI venv's (a plain path line also skips any editable-install hook there).
"$py" -m venv "$work/venv"
vpy="$work/venv/bin/python"
site=$("$vpy" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$py" -c 'import sys; print("\n".join(p for p in sys.path if p.endswith("-packages")))' \
  > "$site/zz-fastdl-ci-venv.pth"

start=$(date +%s)
"$vpy" -m pip install --quiet --no-deps \
  -Ccmake.define.FASTDL_SANITIZE=ON -Ccmake.define.FASTDL_ISAS="$isas" \
  -Ccmake.build-type=RelWithDebInfo -Cbuild-dir="$build_dir" "$root"
echo "40-sanitize: sanitized build (ISA units: $isas) in $(( $(date +%s) - start )) s"

# The tests run from a copy outside the checkout: from the checkout the source folder
# fastdl/ (no compiled modules) would be imported instead.
cp -r tests pyproject.toml "$work/"
cd "$work"
suites=(tests/ops tests/reference)
for extra in tests/property* tests/*/property* tests/test_*propert* tests/*/test_*propert* \
             tests/test_*determinis* tests/*/test_*determinis*; do
  [ -e "$extra" ] && suites+=("$extra")
done

export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
# abort_on_error: a report kills the process with its message in $work/san.*;
# allocator_may_return_null: a huge allocation is a MemoryError, as without ASan.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1:log_path=$work/san"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$work/san"
export FASTDL_SANITIZED=1
start=$(date +%s)
status=0
"$vpy" -c 'import fastdl; i = fastdl.build_info(); print("40-sanitize: testing", fastdl.__file__, i["simd"], i["isa_compiled"])' &&
  "$vpy" -m pytest -q -p no:cacheprovider -x -m "not slow" "${suites[@]}" || status=$?
if compgen -G "$work/san.*" > /dev/null; then
  cat "$work"/san.*
  status=1
fi
echo "40-sanitize: tests under ASan+UBSan in $(( $(date +%s) - start )) s (exit $status)"
exit "$status"
