#!/bin/bash
# Package test: builds the Debian packages (dpkg-buildpackage -us -uc -b) in a copy of the source,
# runs lintian on them, installs them with dpkg into an overlay of the host's root (the host is not
# changed), checks what they installed and what their maintainer scripts did, boots that tree in
# systemd-nspawn for the system test's checks (tests/system/test-nspawn.sh), and purges them again.
# Takes minutes; meson runs it only with -Ddebs=true. Speaks TAP.
set -uo pipefail

src_dir=$(cd "$1" && pwd)

skip() {
    echo "1..0 # SKIP $*"
    exit 0
}

[ "$(id -u)" -eq 0 ] || skip "needs root to install packages into a container"
for tool in dpkg-buildpackage dh lintian systemd-nspawn; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (tools/install-deps.sh installs it)"
done
[ -x /usr/bin/dpkg ] || skip "not a Debian system"

T=$(mktemp -d)
root_mounted=0
cleanup() {
    [ "$root_mounted" -eq 1 ] && umount "$T/root"
    rm -rf "$T"
    # What nspawn leaves behind when the host's PID 1 is not systemd (see tests/system/test-nspawn.sh).
    if [ ! -d /run/systemd/system ]; then
        find /sys/fs/cgroup/*/payload /sys/fs/cgroup/*/supervisor -depth -type d -exec rmdir {} + 2>/dev/null
        rm -rf /run/systemd/nspawn 2>/dev/null
    fi
    true
}
trap cleanup EXIT

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
finish() {
    echo "1..$n"
    exit $((failed > 0))
}
bail() {
    echo "Bail out! $*"
    exit 1
}

# A clean copy of the tree: the files git knows (tracked and new ones), else all but build folders.
copy="$T/src/pylocker-dbus"
mkdir -p "$copy"
if git -C "$src_dir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$src_dir" && git ls-files -z --cached --others --exclude-standard |
        tar --null --ignore-failed-read -cf - -T - 2>/dev/null) | tar -C "$copy" -xf -
else
    tar -C "$src_dir" --exclude='./build*' -cf - . | tar -C "$copy" -xf -
fi
[ -f "$copy/debian/control" ] || bail "no debian/ in $src_dir"

meson_version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$copy/meson.build" | head -1)
deb_version=$(dpkg-parsechangelog -l "$copy/debian/changelog" -S Version)
check "debian/changelog's version ($deb_version) is meson.build's ($meson_version) and a Debian revision" \
    test "${deb_version%-*}" = "$meson_version"
check "debian/changelog is for unstable" \
    test "$(dpkg-parsechangelog -l "$copy/debian/changelog" -S Distribution)" = unstable
check "the symbols file lists exactly the symbols and nodes of src/lib/libpylocker-dbus.sym" \
    cmp -s <("$copy/debian/gen-symbols" 0 | awk '/^ /{print $1}') \
           <(awk '/^ /{print $1}' "$copy/debian/libpylocker-dbus1.symbols")

# The build: binary only, unsigned, as the documentation says, on at most two cores.
if ! (cd "$copy" && DEB_BUILD_OPTIONS="parallel=2" dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1; then
    tail -40 "$T/build.log" | sed 's/^/# /'
    bail "dpkg-buildpackage -us -uc -b failed"
fi
echo "ok $((n += 1)) - dpkg-buildpackage -us -uc -b builds"
arch=$(dpkg --print-architecture)
packages="libpylocker-dbus1 libpylocker-dbus-dev pylockerd pylockctl python3-pylocker"
debs=()
for p in $packages; do
    deb="$T/src/${p}_${deb_version}_$arch.deb"
    check "$p is built" test -f "$deb"
    debs+=("$deb")
done
[ "$failed" -eq 0 ] || finish

lintian --fail-on error --suppress-tags initial-upload-closes-no-bugs "$T/src/"*.changes >"$T/lintian.log" 2>&1
lintian_status=$?
grep -v "^running with root privileges" "$T/lintian.log" | sed 's/^/# lintian: /'
check "lintian finds no errors" test "$lintian_status" -eq 0

# The host's root under an overlay: dpkg installs into it as into the host, which stays as it was.
mkdir -p "$T/upper" "$T/work" "$T/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$T/root" ||
    skip "overlayfs mounts of / are not allowed here"
root_mounted=1
mkdir -p "$T/debs"
cp "${debs[@]}" "$copy/examples/acquire.c" "$T/debs/"

# Runs a command in the tree, not booted: /proc, /dev, /run as in a chroot done right, no network.
# What it and nspawn say goes to in-root.log; a command's own output wanted is written to /io.
mkdir -p "$T/io"
in_root() {
    timeout 300 systemd-nspawn -q -D "$T/root" --register=no --keep-unit --private-network --console=pipe \
        --link-journal=no --bind-ro="$T/debs:/debs" --bind="$T/io:/io" -- "$@" </dev/null >>"$T/in-root.log" 2>&1
}

had_user=0
getent passwd pylocker >/dev/null && had_user=1
if ! in_root sh -c 'DEBIAN_FRONTEND=noninteractive dpkg -i /debs/*.deb >/io/dpkg.log 2>&1'; then
    sed 's/^/# /' "$T/io/dpkg.log"
    bail "dpkg -i failed"
fi
echo "ok $((n += 1)) - dpkg -i installs the packages"
for p in $packages; do
    check "$p is installed" \
        bash -c "[ \"\$(chroot '$T/root' dpkg-query -W -f='\${Status}' $p)\" = 'install ok installed' ]"
done

check "python3-pylocker imports, with the seed's names" \
    in_root python3 -c 'import pylocker; pylocker.ServerLocker; pylocker.SingleLocker; pylocker.FACTORY; pylocker.Locker'

for f in /usr/libexec/pylockerd /lib/systemd/system/pylockerd.service /lib/systemd/system/pylockerd-bridge.socket \
         /usr/lib/systemd/user/pylockerd.service /usr/lib/sysusers.d/pylocker.conf \
         /usr/share/dbus-1/system-services/org.pylocker.Locker.service \
         /usr/share/dbus-1/services/org.pylocker.Locker.service \
         /usr/share/dbus-1/system.d/org.pylocker.Locker.conf /usr/share/dbus-1/interfaces/org.pylocker.Locker.xml \
         /usr/share/polkit-1/actions/org.pylocker.policy /usr/share/man/man8/pylockerd.8.gz \
         /usr/bin/pylockctl /usr/share/man/man1/pylockctl.1.gz /lib/systemd/system/pylocker-lock@.service \
         /lib/systemd/system/pylocker-lock-shared@.service /usr/share/bash-completion/completions/pylockctl \
         /usr/share/zsh/vendor-completions/_pylockctl /usr/include/pylocker/pylocker.h \
         /usr/lib/*/libpylocker-dbus.so.1 /usr/lib/*/libpylocker-dbus.so /usr/lib/*/pkgconfig/libpylocker-dbus.pc \
         /usr/share/doc/pylocker-dbus/bridge.md.gz /usr/share/doc/pylocker-dbus/pylockctl.md.gz; do
    check "installed $f" bash -c "cd '$T/root' && ls .$f >/dev/null 2>&1"
done

user=$(chroot "$T/root" getent passwd pylocker)
if [ "$had_user" -eq 1 ]; then
    check "the system user pylocker is there (the host had it already)" test -n "$user"
else
    check "the postinst made the system user pylocker (systemd-sysusers)" test -n "$user"
fi
uid=$(echo "$user" | cut -d: -f3)
check "pylocker is a system user ($user)" bash -c "[ -n '$uid' ] && [ '$uid' -gt 0 ] && [ '$uid' -lt 1000 ]"
check "pylocker cannot log in" bash -c "echo '$user' | grep -q ':/usr/sbin/nologin\$'"

check "pylockerd.service is static: D-Bus activation and its socket start it" \
    test "$(chroot "$T/root" systemctl is-enabled pylockerd.service 2>&1)" = static
check "the bridge socket is not enabled (it needs a secret first)" \
    test "$(chroot "$T/root" systemctl is-enabled pylockerd-bridge.socket 2>&1)" = disabled
in_root sh -c 'cd /lib/systemd/system && systemd-analyze verify --man=no ./pylockerd.service ./pylockerd-bridge.socket \
              ./pylocker-lock@srv-backup.service ./pylocker-lock-shared@srv-backup.service >/io/verify 2>&1'
check "systemd-analyze verify of the installed units says nothing" test ! -s "$T/io/verify"
sed 's/^/# /' "$T/io/verify"
check "pylockctl runs" in_root pylockctl --version
# shellcheck disable=SC2016  # expanded in the tree
in_root sh -c '{ cc -Werror -Wall -o /tmp/acquire /debs/acquire.c $(pkg-config --cflags --libs libpylocker-dbus) &&
                 ldd /tmp/acquire; } >/io/cc 2>&1'
check "a program builds against the installed library, found by pkg-config, and links it" \
    grep -Eq "libpylocker-dbus.so.1 => (/usr)?/lib/" "$T/io/cc"
grep -Eq "libpylocker-dbus.so.1 => (/usr)?/lib/" "$T/io/cc" || sed 's/^/# /' "$T/io/cc"

# The system test's checks, booted from the tree with the packages in it (a throwaway overlay on it).
while IFS= read -r line; do
    case "$line" in
        "ok "*) echo "ok $((n += 1)) - installed packages: ${line#ok [0-9]* }" ;;
        "not ok "*)
            failed=$((failed + 1))
            echo "not ok $((n += 1)) - installed packages: ${line#not ok [0-9]* }"
            ;;
        "1..0"*) echo "not ok $((n += 1)) - the system test ran: $line"; failed=$((failed + 1)) ;;
        "1.."*) ;;
        *) echo "# $line" ;;
    esac
done < <(PYLOCKER_SYSTEM_ROOT="$T/root" "$src_dir/tests/system/test-nspawn.sh" "$copy" 2>&1)

# Purge: every file the packages installed goes, and dpkg says they are gone.
# shellcheck disable=SC2086  # one argument a package
files=$(chroot "$T/root" dpkg -L $packages 2>/dev/null | sort -u)
if in_root sh -c 'dpkg -P python3-pylocker pylockctl libpylocker-dbus-dev pylockerd libpylocker-dbus1 >/io/purge.log 2>&1'; then
    echo "ok $((n += 1)) - dpkg -P purges the packages"
else
    failed=$((failed + 1))
    echo "not ok $((n += 1)) - dpkg -P purges the packages"
    sed 's/^/# /' "$T/io/purge.log"
fi
left=""
for f in $files; do
    [ -f "$T/root$f" ] || [ -L "$T/root$f" ] || continue
    # A file the host itself has (a folder's placeholder, a shared doc) is not the packages' leftover.
    [ -e "$f" ] && continue
    left="$left $f"
done
check "no file of the packages is left after the purge" test -z "$left"
[ -z "$left" ] || echo "# left:$left"

finish
