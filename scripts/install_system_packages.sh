#!/usr/bin/env bash
# System packages the tests need beyond Python: openssh-server (sshd) for the two-host Horovod test
# (tests/distributed/test_two_hosts.py, scripts/two_host_netns.sh) and iproute2 (`ip netns`).
# Installs only what is missing, with apt-get, unattended; does nothing when all are present.
# Without root or apt-get it prints what is missing and exits 0: those tests then skip with the reason.
set -euo pipefail

missing=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_system_packages.sh: missing ${missing[*]} (needs root and apt-get to install);" \
    "the two-host Horovod tests will skip" >&2
  exit 0
fi
echo "install_system_packages.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
