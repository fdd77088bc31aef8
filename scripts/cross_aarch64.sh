#!/usr/bin/env bash
# Cross-compiles fastdl for aarch64 (Debian's g++-aarch64-linux-gnu) to check that the
# CMake build and every kernel source work off x86: one ISA unit (baseline), no -mavx
# flags, no x86 intrinsics or CPUID, no warnings. Compile and link only; nothing runs.
# The Python headers are this interpreter's (its x86-64 pyconfig.h is LP64 like
# aarch64's, which is all the compile needs); the module is not meant to be imported.
#
#   apt-get install g++-aarch64-linux-gnu   # once
#   scripts/cross_aarch64.sh [python]       # python with pybind11 and cython-cmake
#
# About 1.5 min of CPU (the kernels are compiled once instead of three times).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${1:-python3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cat > "$out/aarch64.cmake" <<'EOF'
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
EOF
cmake -S "$root" -B "$out/build" -DCMAKE_TOOLCHAIN_FILE="$out/aarch64.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DSKBUILD_PROJECT_VERSION=0.0.0 \
  -DPython_EXECUTABLE="$(command -v "$py")" \
  -DPython_INCLUDE_DIR="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
  -Dpybind11_DIR="$("$py" -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
  -DCMAKE_MODULE_PATH="$("$py" -c 'import cython_cmake, os; print(os.path.join(os.path.dirname(cython_cmake.__file__), "cmake"))')" \
  | grep 'fastdl:'
cmake --build "$out/build" -j "$(nproc)" > "$out/build.log" 2>&1 || {
  cat "$out/build.log"; exit 1; }
if grep -E 'warning|error' "$out/build.log"; then
  echo "cross_aarch64: the aarch64 build has warnings (above)" >&2; exit 1
fi
if grep -rqE --include='*.make' --include='build.ninja' -e '-m(avx|fma|f16c)' "$out/build"; then
  echo "cross_aarch64: x86 flags in the aarch64 build" >&2; exit 1
fi
for so in "$out"/build/_core*.so "$out"/build/_pool*.so; do
  file "$so" | grep -q 'ARM aarch64' || { file "$so"; exit 1; }
done
echo "cross_aarch64: _core and _pool compiled and linked for aarch64 without warnings"
