#!/usr/bin/env bash
# The C++ kernel tests on this machine (every ISA the CPU runs): `npm run test:cpp [-- filter]`.
# .ci/run also runs them on an emulated CPU without AVX and under qemu-aarch64.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-tests -DLOWBIT_BUILD_TESTS=ON >/dev/null
cmake --build build-tests -j"$(nproc)" >/dev/null
exec ./build-tests/lowbit_tests "$@"
