#!/bin/sh
# Installs the Debian 12 packages that building, testing and running pylocker-dbus need, and building
# its Debian packages (debian/control's Build-Depends are all here).
set -eu

packages="meson ninja-build pkg-config gcc libc6-dev libsystemd-dev libglib2.0-dev libglib2.0-bin libjson-glib-dev
          libdbus-1-dev libpolkit-gobject-1-dev polkitd
          dbus-daemon dbus-bin systemd systemd-container libxml2-utils python3 python3-gi libcurl4-gnutls-dev etcd-server etcd-client
          python3-docutils bash-completion zsh libgnutls28-dev gnutls-bin iproute2 clang libclang-rt-14-dev
          python3-dev python3-pytest python3-mesonpy python3-venv python3-pip
          debhelper dpkg-dev dh-python lintian"

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
else
    sudo="sudo"
fi
$sudo apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
