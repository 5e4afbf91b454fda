#!/bin/bash
# System test: boots a real systemd in systemd-nspawn with pylocker-dbus installed into the container
# (a build with prefix /usr, overlaid on the host's /usr) and checks inside that D-Bus activation,
# units depending on pylockerd, the bridge socket and the hardened unit work. Speaks TAP.
set -uo pipefail

src_dir=$1

skip() {
    echo "1..0 # SKIP $*"
    exit 0
}

[ "$(id -u)" -eq 0 ] || skip "needs root to boot a container"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn is not installed (package systemd-container)"

T=$(mktemp -d)
overlay_mounted=0
cleanup() {
    [ "$overlay_mounted" -eq 1 ] && umount "$T/root/usr"
    rm -rf "$T"
    # nspawn leaves these behind when the host's PID 1 is not systemd; under a real systemd they may
    # belong to other containers, so they are left alone there.
    if [ ! -d /run/systemd/system ]; then
        rmdir /sys/fs/cgroup/*/payload /sys/fs/cgroup/*/supervisor 2>/dev/null
        rm -rf /run/systemd/nspawn 2>/dev/null
    fi
    true
}
trap cleanup EXIT

mkdir -p "$T/root/usr" "$T/out" "$T/units" "$T/check" "$T/dest" "$T/probe/a" "$T/probe/b"
if ! mount -t overlay overlay -o "lowerdir=$T/probe/a:$T/probe/b" "$T/root/usr" 2>/dev/null; then
    skip "overlayfs mounts are not allowed here"
fi
umount "$T/root/usr"

# The project, installed as a distribution would: prefix /usr, units where systemd looks (the daemon
# and the CLI: only they are built, so not the Python package either).
meson setup "$T/build" "$src_dir" --prefix=/usr -Dsystemdsystemunitdir=/usr/lib/systemd/system \
    -Dsystemduserunitdir=/usr/lib/systemd/user -Dsysusersdir=/usr/lib/sysusers.d -Dbridge_port=3000 \
    -Dpython=disabled \
    >"$T/setup.log" 2>&1 || { cat "$T/setup.log"; echo "Bail out! meson setup failed"; exit 1; }
ninja -C "$T/build" src/daemon/pylockerd src/cli/pylockctl docs/pylockctl.1 docs/pylockerd.8 >"$T/build.log" 2>&1 ||
    { tail -20 "$T/build.log"; echo "Bail out! build failed"; exit 1; }
DESTDIR="$T/dest" meson install -C "$T/build" --no-rebuild --quiet >"$T/install.log" 2>&1 ||
    { tail -20 "$T/install.log"; echo "Bail out! meson install failed"; exit 1; }

mount -t overlay overlay -o "lowerdir=$T/dest/usr:/usr" "$T/root/usr" || { echo "Bail out! overlay"; exit 1; }
overlay_mounted=1
for l in bin sbin lib lib64; do ln -s "usr/$l" "$T/root/$l"; done

cat >"$T/units/check.service" <<'EOF'
[Unit]
Description=pylocker-dbus system checks
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/check/run.sh
ExecStopPost=/bin/systemctl poweroff
EOF

cat >"$T/units/holder.service" <<'EOF'
[Unit]
Description=Holds /srv/shared for two seconds
Requires=pylockerd.service
After=pylockerd.service

[Service]
Type=oneshot
ExecStart=/usr/bin/pylockctl run /srv/shared -- /bin/sh -c 'echo holder-start >>/out/order; sleep 2; echo holder-end >>/out/order'
EOF

cat >"$T/units/waiter.service" <<'EOF'
[Unit]
Description=Waits for /srv/shared
Requires=pylockerd.service
After=pylockerd.service

[Service]
Type=oneshot
ExecStart=/usr/bin/pylockctl run --timeout 30 /srv/shared -- /bin/sh -c 'echo waiter >>/out/order'
EOF

# The example unit, as shipped.
cp "$src_dir/examples/backup.service" "$T/units/"

# The bridge's secret, given to the service as a credential, as docs/bridge.md says.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/check/bridge.secret"
chmod 600 "$T/check/bridge.secret"
mkdir -p "$T/units/pylockerd.service.d"
cat >"$T/units/pylockerd.service.d/bridge.conf" <<'EOF'
[Service]
LoadCredential=pylocker.secret:/check/bridge.secret
EOF

cat >"$T/check/run.sh" <<'EOF'
#!/bin/bash
# Runs inside the container; one TAP line a check into /out/results.
exec >>/out/log 2>&1
check() {
    local what=$1
    shift
    if "$@"; then echo "ok - $what" >>/out/results; else echo "not ok - $what" >>/out/results; fi
}
wait_for() {
    for _ in $(seq 100); do "$@" && return 0; sleep 0.1; done
    return 1
}

check "pylockerd is not running before anyone calls it" \
    bash -c '! systemctl is-active --quiet pylockerd.service'
check "busctl call to org.pylocker.Locker succeeds" \
    busctl call org.pylocker.Locker /org/pylocker/Locker org.pylocker.Locker ListLocks
check "the call activated pylockerd.service through the bus (Type=notify, active)" \
    systemctl is-active --quiet pylockerd.service
pid=$(systemctl show -P MainPID pylockerd.service)
check "the hardened daemon runs as its own user, not root" \
    bash -c "[ \"\$(stat -c %U /proc/$pid)\" = pylocker ] && [ \"\$(stat -c %u /proc/$pid)\" != 0 ]"
check "its direct socket is there for everyone" \
    bash -c '[ "$(stat -c %a /run/pylocker/private)" = 666 ]'
systemctl show -P StatusText pylockerd.service
check "it reports its counts to systemd" \
    wait_for bash -c 'systemctl show -P StatusText pylockerd.service | grep -q "clients"'

systemctl start --no-block holder.service
wait_for grep -qs holder-start /out/order
check "a unit waiting for the lock runs only after the holder let go" \
    bash -c 'systemctl start waiter.service && printf "holder-start\nholder-end\nwaiter\n" | cmp -s - /out/order'
check "both units ended successfully" \
    bash -c '[ "$(systemctl show -P Result holder.service)" = success ] && [ "$(systemctl show -P Result waiter.service)" = success ]'

check "the example unit runs its job under the lock" \
    bash -c 'systemctl start backup.service && [ "$(systemctl show -P Result backup.service)" = success ] &&
             journalctl -u backup.service -o cat | grep -q "backing up with fencing token [0-9]"'

systemctl stop pylockerd.service
systemctl start pylockerd-bridge.socket
check "pylockerd is stopped and its bridge socket listens" \
    bash -c '! systemctl is-active --quiet pylockerd.service && systemctl is-active --quiet pylockerd-bridge.socket'
bash -c 'exec 3<>/dev/tcp/127.0.0.1/3000; sleep 0.5' || true
check "a connection to the bridge port starts pylockerd" \
    wait_for systemctl is-active --quiet pylockerd.service
check "a remote client gets through the bridge with the secret" \
    bash -c 'pylockctl --remote 127.0.0.1:3000 --secret-file /check/bridge.secret status | grep -q "Connection: bridge"'
check "and is refused without it" \
    bash -c 'head -c 32 /dev/zero >/tmp/wrong && chmod 600 /tmp/wrong &&
             ! pylockctl --remote 127.0.0.1:3000 --secret-file /tmp/wrong status'

echo "end" >>/out/results
EOF
chmod 755 "$T/check/run.sh"

timeout 300 systemd-nspawn -q -D "$T/root" --volatile=yes --register=no --keep-unit --private-network \
    --console=pipe --bind="$T/out:/out" --bind-ro="$T/check:/check" --bind-ro="$T/units:/etc/systemd/system" \
    -b -- systemd.wants=check.service </dev/null >"$T/boot.log" 2>&1
status=$?

n=0
failed=0
if [ -f "$T/out/results" ]; then
    while read -r line; do
        [ "$line" = end ] && continue
        n=$((n + 1))
        case "$line" in
            "not ok"*) failed=$((failed + 1)); echo "not ok $n ${line#not ok - }" ;;
            *) echo "ok $n ${line#ok - }" ;;
        esac
    done <"$T/out/results"
fi
n=$((n + 1))
if [ "$status" -eq 0 ] && grep -qx end "$T/out/results" 2>/dev/null; then
    echo "ok $n the container booted, ran every check and powered off"
else
    failed=$((failed + 1))
    echo "not ok $n the container booted, ran every check and powered off (nspawn exit $status)"
    sed 's/^/# /' "$T/boot.log" | tail -30
fi
[ "$failed" -eq 0 ] || sed 's/^/# /' "$T/out/log" 2>/dev/null | tail -40
echo "1..$n"
exit $((failed > 0))
