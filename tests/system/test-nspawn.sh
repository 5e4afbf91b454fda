#!/bin/bash
# System test: boots a real systemd in systemd-nspawn with pylocker-dbus installed into the container
# (a build with prefix /usr, overlaid on the host's /usr) and checks inside that D-Bus activation,
# units depending on pylockerd, the bridge socket and the hardened unit work. Speaks TAP.
#
# PYLOCKER_SYSTEM_ROOT=DIR boots DIR instead: a whole system tree with the project already installed
# in it (tests/packages/test-debs.sh installs the Debian packages there), under a throwaway overlay
# (--volatile=overlay), so the tree is left as it was.
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
        # (With the init.scope the container's systemd made in it.)
        find /sys/fs/cgroup/*/payload /sys/fs/cgroup/*/supervisor -depth -type d -exec rmdir {} + 2>/dev/null
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

root=$T/root
volatile=yes
if [ -n "${PYLOCKER_SYSTEM_ROOT:-}" ]; then
    root=$PYLOCKER_SYSTEM_ROOT
    volatile=overlay
else
    # The project, installed as a distribution would: prefix /usr, units where systemd looks (the
    # daemon and the CLI: only they are built, so not the Python package either).
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
fi

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

# The example units, as shipped.
cp "$src_dir/examples/backup.service" "$src_dir/examples/backup-verify.service" "$T/units/"

# Locks as units: job-a needs the exclusive lock on /srv/units, job-b the shared one; they contend.
for job in a:pylocker-lock b:pylocker-lock-shared; do
    cat >"$T/units/job-${job%%:*}.service" <<EOF
[Unit]
Description=Runs while ${job#*:}@srv-units.service holds its lock
BindsTo=${job#*:}@srv-units.service
After=${job#*:}@srv-units.service

[Service]
ExecStart=/bin/sh -c 'echo ${job%%:*}-start >>/out/units; exec sleep infinity'
ExecStopPost=/bin/sh -c 'echo ${job%%:*}-stop >>/out/units'
EOF
done
# A lock unit given a lease through a drop-in, and a unit that needs it.
mkdir -p "$T/units/pylocker-lock@srv-lease.service.d"
cat >"$T/units/pylocker-lock@srv-lease.service.d/lease.conf" <<'EOF'
[Service]
Environment=PYLOCKER_LOCK_OPTIONS=--ttl=7s
EOF
cat >"$T/units/job-lease.service" <<'EOF'
[Unit]
BindsTo=pylocker-lock@srv-lease.service
After=pylocker-lock@srv-lease.service

[Service]
ExecStart=/bin/sleep infinity
EOF
# A long job under 'pylockctl run', to be stopped.
cat >"$T/units/long-run.service" <<'EOF'
[Unit]
Requires=pylockerd.service
After=pylockerd.service

[Service]
ExecStart=/usr/bin/pylockctl run /srv/long -- /bin/sleep infinity
EOF
# The exposure score the documentation gives.
cp "$src_dir/docs/pylockerd.md" "$T/check/"

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

check "the example lock unit's consumer ran under the lock, and the lock went with it" \
    bash -c 'systemctl start backup-verify.service && [ "$(systemctl show -P Result backup-verify.service)" = success ] &&
             journalctl -u backup-verify.service -o cat | grep -q "^Holding lock [0-9a-f]* (token [0-9]*) on .*/srv/backup" &&
             for _ in $(seq 100); do systemctl is-active -q pylocker-lock@srv-backup.service || break; sleep 0.1; done &&
             ! systemctl is-active -q pylocker-lock@srv-backup.service && ! pylockctl locks --no-legend | grep -q /srv/backup'

# Locks as units, contending: job-a's exclusive lock first; job-b's shared one waits for it.
systemctl start job-a.service
check "a unit bound to pylocker-lock@srv-units.service starts once the lock is held" \
    bash -c '[ "$(systemctl show -P ActiveState pylocker-lock@srv-units.service)" = active ] &&
             systemctl is-active -q job-a.service && pylockctl locks | grep -q "pylocker-lock@srv-units.service .*/srv/units"'
systemctl start --no-block job-b.service
wait_for bash -c '[ "$(systemctl show -P ActiveState pylocker-lock-shared@srv-units.service)" = activating ] &&
                  pylockctl status | grep -q "WaiterCount: 1"'
check "the contending unit waits: its lock unit is activating (no READY=1 yet), the unit not started" \
    bash -c '[ "$(systemctl show -P ActiveState pylocker-lock-shared@srv-units.service)" = activating ] &&
             ! systemctl is-active -q job-b.service && pylockctl status | grep -q "WaiterCount: 1"'
systemctl stop job-a.service
check "when the first unit stops, its lock unit stops (no longer needed) and the second starts" \
    wait_for bash -c 'systemctl is-active -q job-b.service && ! systemctl is-active -q pylocker-lock@srv-units.service &&
                      printf "a-start\na-stop\nb-start\n" | cmp -s - /out/units'
check "the first lock unit ended cleanly" \
    bash -c '[ "$(systemctl show -P Result pylocker-lock@srv-units.service)" = success ]'
lock=$(pylockctl locks --no-legend | grep ' /srv/units$' | cut -d' ' -f1)
pylockctl force-release "$lock"
check "a force-release fails the lock unit (exit 76)" \
    wait_for bash -c '[ "$(systemctl show -P ActiveState pylocker-lock-shared@srv-units.service)" = failed ] &&
                      [ "$(systemctl show -P ExecMainStatus pylocker-lock-shared@srv-units.service)" = 76 ]'
check "and stops the unit bound to it" \
    wait_for bash -c '! systemctl is-active -q job-b.service && grep -qx b-stop /out/units'

# Exclusive against exclusive: another holder has the lock; the lock unit waits for it.
systemd-run --quiet --unit=other-holder.service /usr/bin/pylockctl hold /srv/units
wait_for bash -c 'pylockctl locks | grep -q /srv/units'
systemctl start --no-block job-a.service
wait_for bash -c '[ "$(systemctl show -P ActiveState pylocker-lock@srv-units.service)" = activating ] &&
                  pylockctl status | grep -q "WaiterCount: 1"'
check "with the lock held elsewhere, the exclusive lock unit waits" \
    bash -c '[ "$(systemctl show -P ActiveState pylocker-lock@srv-units.service)" = activating ] &&
             ! systemctl is-active -q job-a.service'
systemctl stop other-holder.service
check "and its unit starts once the other holder let go" wait_for systemctl is-active -q job-a.service
check "the other holder (pylockctl hold) ended cleanly on stop" \
    bash -c '[ "$(systemctl show -P Result other-holder.service)" = success ]'
systemctl stop job-a.service

systemctl start job-lease.service
check "a drop-in passes options to the lock unit (a 7 s lease, kept refreshed)" \
    bash -c 'pylockctl locks --json=short | python3 -c "
import json, sys
lock = [l for l in json.load(sys.stdin) if l[\"paths\"] == [\"/srv/lease\"]][0]
assert lock[\"owner_name\"] == \"pylocker-lock@srv-lease.service\", lock
assert 6 <= (lock[\"expires_usec\"] - lock[\"acquired_usec\"]) / 1e6 <= 7, lock
"'
systemctl stop job-lease.service
check "no lock is left once the units are stopped" wait_for bash -c '[ -z "$(pylockctl locks --no-legend)" ]'

systemctl start long-run.service
wait_for bash -c 'pylockctl locks | grep -q /srv/long'
systemctl stop long-run.service
check "systemctl stop of a unit running 'pylockctl run' leaves it inactive, not failed" \
    bash -c '[ "$(systemctl show -P ActiveState long-run.service)" = inactive ] &&
             [ "$(systemctl show -P Result long-run.service)" = success ] && ! pylockctl locks | grep -q /srv/long'

score=$(systemd-analyze security pylockerd.service 2>/dev/null |
        sed -n 's/.*Overall exposure level for pylockerd.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security pylockerd.service: $score"
check "the exposure score of pylockerd.service ($score) is the one docs/pylockerd.md gives" \
    grep -q "rates it $score (" /check/pylockerd.md

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

# What the system said, for a failure's report.
grep -q "^not ok" /out/results && journalctl -b -o short-monotonic --no-pager | tail -80
echo "end" >>/out/results
EOF
chmod 755 "$T/check/run.sh"

timeout 300 systemd-nspawn -q -D "$root" --volatile="$volatile" --register=no --keep-unit --private-network \
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
[ "$failed" -eq 0 ] || sed 's/^/# /' "$T/out/log" 2>/dev/null | tail -150
echo "1..$n"
exit $((failed > 0))
