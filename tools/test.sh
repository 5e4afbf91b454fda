#!/bin/sh
# Installs what is missing, builds with warnings as errors, and runs the whole test suite three times:
# built by gcc plainly, by gcc under AddressSanitizer and UndefinedBehaviorSanitizer, and by clang
# (whose warnings differ from gcc's); then, once, the Debian packages' test (tests/packages) in a build
# of its own, which builds nothing itself: the test builds the packages from a copy of the tree.
set -eu
cd "$(dirname "$0")/.."

./tools/install-deps.sh

# run_suite BUILDDIR CC [MESON-OPTION...]; $test_args go to meson test.
run_suite() {
    dir=$1
    cc=$2
    shift 2
    if [ -d "$dir" ]; then
        CC=$cc meson setup --wipe "$dir" -Dwerror=true "$@" >/dev/null
    else
        CC=$cc meson setup "$dir" -Dwerror=true "$@" >/dev/null
    fi
    ninja -C "$dir"
    # shellcheck disable=SC2086
    meson test -C "$dir" --print-errorlogs ${test_args:-}
}

# The randomized tests take their seed from here, one for all three builds, printed so that a failure
# can be replayed: PYLOCKER_MODEL_SEED=N meson test -C BUILD test-lock-table-model (the lock table
# against its model, a bounded number of steps), PYLOCKER_CHAOS_SEED=N meson test -C BUILD test-chaos
# (the fault campaign, 60 s).
PYLOCKER_MODEL_SEED=${PYLOCKER_MODEL_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
PYLOCKER_MODEL_STEPS=${PYLOCKER_MODEL_STEPS:-100000}
PYLOCKER_CHAOS_SEED=${PYLOCKER_CHAOS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
PYLOCKER_CHAOS_SECONDS=${PYLOCKER_CHAOS_SECONDS:-60}
export PYLOCKER_MODEL_SEED PYLOCKER_MODEL_STEPS PYLOCKER_CHAOS_SEED PYLOCKER_CHAOS_SECONDS
echo "PYLOCKER_MODEL_SEED=$PYLOCKER_MODEL_SEED PYLOCKER_MODEL_STEPS=$PYLOCKER_MODEL_STEPS" \
     "PYLOCKER_CHAOS_SEED=$PYLOCKER_CHAOS_SEED PYLOCKER_CHAOS_SECONDS=$PYLOCKER_CHAOS_SECONDS"

# The packages' test alone, in build-debs: it needs no build products (--no-rebuild).
run_packages() {
    if [ -d build-debs ]; then
        meson setup --wipe build-debs -Ddebs=true >/dev/null
    else
        meson setup build-debs -Ddebs=true >/dev/null
    fi
    meson test -C build-debs --suite packages --no-rebuild --print-errorlogs
}

builds="build-test build-sanitize build-clang build-debs"
status=0
run_suite build-test gcc || status=1
run_suite build-sanitize gcc -Db_sanitize=address,undefined -Db_lundef=false || status=1
# clang's build is for its warnings; the etcd cluster's minutes of real failovers run in the other two.
test_args="--no-suite cluster --no-suite etcd" run_suite build-clang clang || status=1
run_packages || status=1

# One closing line for all runs, counting the meson tests of every build.
# shellcheck disable=SC2086
python3 - $builds <<'PY'
import json, sys
passed = failed = 0
for d in sys.argv[1:]:
    try:
        lines = open(d + "/meson-logs/testlog.json").read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        if t["result"] in ("OK", "EXPECTEDFAIL"):
            passed += 1
        else:
            failed += 1
print(f"tests: {passed} passed, {failed} failed")
PY
exit $status
