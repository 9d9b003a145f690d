#!/usr/bin/env bash
# Build fastopt with AddressSanitizer and UndefinedBehaviorSanitizer (and Cython's bounds
# checks) into a scratch virtual environment, and run the test suite under them.
#
#   tools/sanitize.sh                       # the whole default suite
#   tools/sanitize.sh tests/test_optimizers.py -x
#   tools/sanitize.sh --here tests/...      # into the active virtual environment, whose
#                                           # test dependencies are installed (.ci/run)
#
# Python itself is not instrumented, so the sanitizer runtimes are preloaded; leak checking
# is off (CPython keeps allocations alive on purpose); any report stops the run.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build fastopt.egg-info
if [ "${1:-}" = --here ]; then
    shift
    FASTOPT_SANITIZE=address,undefined FASTOPT_USE_OPENMP=1 \
        python -m pip install --quiet --no-deps --force-reinstall .
else
    venv="${FASTOPT_SANITIZE_VENV:-/tmp/fastopt-sanitize}"
    python3 -m venv "$venv"
    . "$venv/bin/activate"
    python -m pip install --quiet --upgrade pip
    FASTOPT_SANITIZE=address,undefined FASTOPT_USE_OPENMP=1 python -m pip install --quiet ".[test]"
fi
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd / && python -c "import fastopt; print('fastopt', fastopt.__file__, 'openmp', fastopt.openmp_enabled(), 'isa', fastopt._dispatch.ISA)")
pytest -q -p no:cacheprovider "$@"
