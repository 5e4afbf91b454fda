#!/bin/bash
# Installs the build into a scratch DESTDIR and checks that every service file lands where the
# pkg-config variables of systemd, dbus-1 and polkit-gobject-1 say, and that systemd-analyze verify
# finds nothing to say about the units. Speaks TAP.
set -euo pipefail

build_dir=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

n=0
failed=0
check() {
    local what=$1
    shift
    n=$((n + 1))
    if "$@"; then
        echo "ok $n - $what"
    else
        echo "not ok $n - $what"
        failed=$((failed + 1))
    fi
}

meson install -C "$build_dir" --destdir "$dest" --no-rebuild --quiet >/dev/null

prefix=$(meson introspect "$build_dir" --buildoptions | python3 -c \
    'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
libexecdir=$(meson introspect "$build_dir" --buildoptions | python3 -c \
    'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "libexecdir"))')

expect() {
    check "installed $1" test -f "$dest$1"
}
expect "$(pkg-config --variable=systemdsystemunitdir systemd)/pylockerd.service"
expect "$(pkg-config --variable=systemdsystemunitdir systemd)/pylockerd-bridge.socket"
expect "$(pkg-config --variable=systemduserunitdir systemd)/pylockerd.service"
expect "$(pkg-config --variable=sysusersdir systemd)/pylocker.conf"
expect "$(pkg-config --variable=system_bus_services_dir dbus-1)/org.pylocker.Locker.service"
expect "$(pkg-config --variable=session_bus_services_dir dbus-1)/org.pylocker.Locker.service"
expect "$(pkg-config --variable=datadir dbus-1)/dbus-1/system.d/org.pylocker.Locker.conf"
expect "$(pkg-config --variable=policydir polkit-gobject-1)/org.pylocker.policy"
expect "$prefix/share/dbus-1/interfaces/org.pylocker.Locker.xml"
expect "$prefix/$libexecdir/pylockerd"
expect "$prefix/bin/pylockctl"
expect "$(pkg-config --variable=systemdsystemunitdir systemd)/pylocker-lock@.service"
expect "$(pkg-config --variable=systemdsystemunitdir systemd)/pylocker-lock-shared@.service"
expect "$(pkg-config --variable=systemdsystemunitdir systemd)/pylocker-metrics.service"
expect "$(pkg-config --variable=systemdsystemunitdir systemd)/pylocker-metrics.timer"
expect "$prefix/share/zsh/site-functions/_pylockctl"
for doc in bridge.md cluster.md filelock.md libpylocker-dbus.md org.pylocker.Locker.md pylockctl.md pylockerd.md; do
    expect "$prefix/share/doc/pylocker-dbus/$doc"
done
if [ -f "$dest$prefix/share/man/man8/pylockerd.8" ]; then
    check "the man page of pylockerd points at the installed bridge.md" \
        grep -qF "$prefix/share/doc/pylocker\-dbus/bridge.md" "$dest$prefix/share/man/man8/pylockerd.8"
fi

# A program outside the tree builds against the installed library, found by pkg-config.
libdir=$(meson introspect "$build_dir" --buildoptions | python3 -c \
    'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "libdir"))')
pcdir="$dest$prefix/$libdir/pkgconfig"
check "libpylocker-dbus.pc is installed" test -f "$pcdir/libpylocker-dbus.pc"
# The installed .pc as it would read had the files been installed to / (its prefix moved to DESTDIR).
outside=$(mktemp -d)
mkdir "$outside/pc"
sed "s|^prefix=.*|prefix=$dest$prefix|" "$pcdir/libpylocker-dbus.pc" > "$outside/pc/libpylocker-dbus.pc"
flags=$(PKG_CONFIG_PATH="$outside/pc" pkg-config --cflags --libs libpylocker-dbus 2>&1)
check "pkg-config --cflags --libs libpylocker-dbus works" \
    env PKG_CONFIG_PATH="$outside/pc" pkg-config --exists libpylocker-dbus
cp "$(dirname "$0")/../../examples/acquire.c" "$outside/"
# shellcheck disable=SC2086
check "the C example compiles and links against the installed library" \
    cc -Werror -Wall -o "$outside/acquire" "$outside/acquire.c" $flags
check "only the public API is exported" \
    bash -c "! nm -D --defined-only '$dest$prefix/$libdir/libpylocker-dbus.so.1' | awk '{print \$3}' | grep -v '^pylocker_' | grep -v '^PYLOCKER_1' | grep -q ."
rm -rf "$outside"

# The Python package, when built: installed beside the interpreter's packages, and importable there
# against the installed library.
ext=$(find "$dest" -name '_pylocker.cpython-*.so' 2>/dev/null | head -1)
if meson introspect "$build_dir" --targets | grep -q '"_pylocker\.cpython'; then
    check "the Python package is installed" test -n "$ext" -a -f "$(dirname "$ext")/ServerLocker.py"
    # A sanitized build's extension wants its runtime loaded first.
    asan=$(ldd "$ext" 2>/dev/null | awk '/libasan/ { print $3 }')
    check "the installed Python package imports, on the installed library" \
        env PYTHONPATH="$(dirname "$(dirname "$ext")")" LD_LIBRARY_PATH="$dest$prefix/$libdir" \
            ${asan:+LD_PRELOAD=$asan ASAN_OPTIONS=detect_leaks=0} \
            /usr/bin/python3 -c 'import pylocker, pylocker._pylocker as c
assert pylocker.ServerLocker and pylocker.Locker and pylocker.FACTORY
assert c.__file__.startswith("'"$dest"'"), c.__file__'
fi

# The units point at the installed daemon; systemd-analyze wants it to exist, so verify copies
# whose ExecStart= points into DESTDIR.
units=$(mktemp -d)
trap 'rm -rf "$dest" "$units"' EXIT
sysunits="$dest$(pkg-config --variable=systemdsystemunitdir systemd)"
for u in pylockerd.service pylockerd-bridge.socket pylocker-lock@.service pylocker-lock-shared@.service \
         pylocker-metrics.service pylocker-metrics.timer; do
    sed -e "s|$prefix/$libexecdir/pylockerd|$dest$prefix/$libexecdir/pylockerd|" \
        -e "s|$prefix/bin/pylockctl|$dest$prefix/bin/pylockctl|" "$sysunits/$u" > "$units/$u"
done
check "the lock units run 'pylockctl hold' on the instance's path" \
    grep -q "^ExecStart=$prefix/bin/pylockctl hold \$PYLOCKER_LOCK_OPTIONS %f\$" "$sysunits/pylocker-lock@.service"
check "the shared lock unit holds shared locks" \
    grep -q "^ExecStart=$prefix/bin/pylockctl hold --shared \$PYLOCKER_LOCK_OPTIONS %f\$" \
    "$sysunits/pylocker-lock-shared@.service"
check "ExecStart= names the installed daemon" grep -q "^ExecStart=$prefix/$libexecdir/pylockerd --system --idle-exit=30s\$" \
    "$sysunits/pylockerd.service"
check "the metrics unit writes OpenMetrics atomically to the textfile collector's directory" \
    grep -q "^ExecStart=$prefix/bin/pylockctl --system stats --openmetrics --output=\${PYLOCKER_METRICS_FILE}\$" \
    "$sysunits/pylocker-metrics.service"
check "the metrics file is node_exporter's, unless a drop-in says otherwise" \
    grep -q "^Environment=PYLOCKER_METRICS_FILE=/var/lib/prometheus/node-exporter/pylocker.prom\$" \
    "$sysunits/pylocker-metrics.service"
out=$(cd "$units" && systemd-analyze verify --man=no ./pylockerd.service ./pylockerd-bridge.socket \
      ./pylocker-lock@srv-backup.service ./pylocker-lock-shared@srv-backup.service \
      ./pylocker-metrics.service ./pylocker-metrics.timer 2>&1) || true
check "systemd-analyze verify says nothing" test -z "$out"
[ -z "$out" ] || echo "$out" | sed 's/^/# /'

mkdir -p "$units/user"
sed "s|$prefix/$libexecdir/pylockerd|$dest$prefix/$libexecdir/pylockerd|" \
    "$dest$(pkg-config --variable=systemduserunitdir systemd)/pylockerd.service" > "$units/user/pylockerd.service"
mkdir -p "$units/runtime" && chmod 700 "$units/runtime"
out=$(cd "$units/user" && XDG_RUNTIME_DIR="$units/runtime" systemd-analyze verify --user --man=no ./pylockerd.service 2>&1) || true
check "systemd-analyze verify of the user unit says nothing" test -z "$out"
[ -z "$out" ] || echo "$out" | sed 's/^/# /'

score=$(systemd-analyze security --offline=yes "$units/pylockerd.service" 2>/dev/null | tail -1)
echo "# $score"

echo "1..$n"
exit $((failed > 0))
