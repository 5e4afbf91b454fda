#!/bin/sh
# Installs what is missing, builds with warnings as errors, and runs the whole test suite twice:
# plainly, and under AddressSanitizer and UndefinedBehaviorSanitizer.
set -eu
cd "$(dirname "$0")/.."

./tools/install-deps.sh

run_suite() {
    dir=$1
    shift
    if [ -d "$dir" ]; then
        meson setup --wipe "$dir" -Dwerror=true "$@" >/dev/null
    else
        meson setup "$dir" -Dwerror=true "$@" >/dev/null
    fi
    ninja -C "$dir"
    meson test -C "$dir" --print-errorlogs
}

status=0
run_suite build-test || status=1
run_suite build-sanitize -Db_sanitize=address,undefined -Db_lundef=false || status=1

# One closing line for both runs, counting the meson tests of both builds.
python3 - build-test build-sanitize <<'PY'
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
