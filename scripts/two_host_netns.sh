#!/usr/bin/env bash
# Two "hosts" on one Linux machine: two network namespaces joined by a veth pair, each with its own address
# and its own sshd, and passwordless ssh between them with a key made for this purpose. Used by
# tests/distributed/test_two_hosts.py and `benchmarks/scaling.py --two_hosts` to run a real two-host
# `horovodrun -H A:1,B:1` (Gloo over TCP between the two addresses), and readable as a recipe for real hosts.
#
#   sudo bash scripts/two_host_netns.sh up          # namespaces, veth, addresses, keys, two sshd
#   sudo bash scripts/two_host_netns.sh run CMD...  # CMD inside namespace A (the launcher host), with
#                                                   # HOST_A, HOST_B, HOSTS, SSH_PORT, SSH_IDENTITY_FILE,
#                                                   # NETWORK_INTERFACE and HOROVOD_GLOO_TIMEOUT_SECONDS set
#   sudo bash scripts/two_host_netns.sh down        # stops both sshd, deletes namespaces, veth and keys
#   sudo bash scripts/two_host_netns.sh check       # exit 0 if `up` can work here, else print why and exit 77
#
# For example the two-node run script on a tiny dataset:
#   scripts/two_host_netns.sh run env DATA_DIR=data MODEL_DIR=runs/2hosts NUM_PROCESSES=2 \
#       bash examples/run_scripts/Horovod_CenterNet_2Nodes.sh --backbone tiny --image_size 64 ...
#
# Nothing leaves the two namespaces: each one has only its loopback and its end of the veth pair (no route
# elsewhere), both ends of every connection are TWO_HOST_ADDR_A / TWO_HOST_ADDR_B (or loopback). The two
# namespaces share the machine's file system, which plays the shared file system of a cluster. ssh uses its
# own config (TWO_HOST_DIR/ssh_config via an `ssh` wrapper first on PATH): key, port, known_hosts all under
# TWO_HOST_DIR; nothing in ~/.ssh or /etc/ssh is read or written.
#
# Environment (defaults): TWO_HOST_DIR (/tmp/keras-centernet-two-hosts: keys, configs, pids, logs),
# TWO_HOST_PREFIX (kcn: namespaces kcn-a / kcn-b), TWO_HOST_ADDR_A (10.77.0.1), TWO_HOST_ADDR_B (10.77.0.2),
# TWO_HOST_IFACE (kcn0: the veth end's name inside both namespaces), TWO_HOST_SSH_PORT (2222),
# HOROVOD_GLOO_TIMEOUT_SECONDS (30: bounds a Gloo wait on a dead peer).
set -euo pipefail

DIR=${TWO_HOST_DIR:-/tmp/keras-centernet-two-hosts}
PREFIX=${TWO_HOST_PREFIX:-kcn}
NS_A=$PREFIX-a
NS_B=$PREFIX-b
ADDR_A=${TWO_HOST_ADDR_A:-10.77.0.1}
ADDR_B=${TWO_HOST_ADDR_B:-10.77.0.2}
IFACE=${TWO_HOST_IFACE:-kcn0}
PORT=${TWO_HOST_SSH_PORT:-2222}
GLOO_TIMEOUT=${HOROVOD_GLOO_TIMEOUT_SECONDS:-30}
VETH_A=$PREFIX-veth-a
VETH_B=$PREFIX-veth-b
SSHD=$(command -v sshd 2>/dev/null || echo /usr/sbin/sshd)
SSH=$(command -v ssh 2>/dev/null || echo /usr/bin/ssh)

log() { echo "two_host_netns: $*" >&2; }

# Why `up` cannot work here (empty when it can).
unavailable() {
  if [ "$(id -u)" -ne 0 ]; then echo "not root (network namespaces need root)"; return; fi
  if ! command -v ip >/dev/null 2>&1; then echo "no 'ip' command (apt-get install iproute2)"; return; fi
  if [ ! -x "$SSHD" ]; then echo "no sshd (bash scripts/install_system_packages.sh installs openssh-server)"; return; fi
  if ! command -v ssh-keygen >/dev/null 2>&1 || [ ! -x "$SSH" ]; then echo "no ssh client"; return; fi
  local probe="$PREFIX-probe-$$"
  if ! ip netns add "$probe" 2>/dev/null; then echo "cannot create network namespaces (ip netns add failed)"; return; fi
  ip netns del "$probe" 2>/dev/null || true
}

kill_pidfile() {  # stop a process this script started, by the pid it wrote, only if it is still sshd
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "sshd.*$DIR"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

kill_namespace_processes() {  # whatever still runs inside our own namespaces (leftover workers, sessions)
  local ns=$1 pids
  ip netns list 2>/dev/null | grep -qw "^$ns" || return 0
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null || true
  sleep 1
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
}

down() {
  kill_pidfile "$DIR/sshd-a.pid"
  kill_pidfile "$DIR/sshd-b.pid"
  for ns in "$NS_A" "$NS_B"; do
    kill_namespace_processes "$ns"
    if ip netns list 2>/dev/null | grep -qw "^$ns"; then ip netns del "$ns"; fi
  done
  # A half-made pair (failure before the move into the namespaces) is still in this namespace.
  if ip link show "$VETH_A" >/dev/null 2>&1; then ip link del "$VETH_A"; fi
  rm -rf "/etc/netns/$NS_A" "/etc/netns/$NS_B"
  if [ -d /etc/netns ]; then rmdir --ignore-fail-on-non-empty /etc/netns; fi
  rm -rf "$DIR"
  return 0
}

start_sshd() {  # namespace, address, name
  ip netns exec "$1" "$SSHD" -f /dev/null -h "$DIR/ssh_host_ed25519_key" -p "$PORT" \
    -o "ListenAddress=$2" -o "AuthorizedKeysFile=$DIR/authorized_keys" -o "PidFile=$DIR/sshd-$3.pid" \
    -o StrictModes=no -o UsePAM=no -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no \
    -o PubkeyAuthentication=yes -o PermitRootLogin=prohibit-password -o PermitUserEnvironment=no \
    -o UseDNS=no -o MaxStartups=100 -o LogLevel=ERROR -E "$DIR/sshd-$3.log"
}

wait_ssh() {  # namespace, address: until a command runs there over ssh (10 s at most)
  for _ in $(seq 100); do
    if ip netns exec "$1" "$DIR/bin/ssh" -o ConnectTimeout=2 "$2" true 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "ssh to $2 from $1 does not work; sshd log:"; cat "$DIR"/sshd-*.log >&2 || true
  return 1
}

up() {
  local reason
  reason=$(unavailable)
  if [ -n "$reason" ]; then log "cannot set up two hosts: $reason"; exit 77; fi
  down  # leftovers of an earlier run with the same names
  trap 'log "up failed: tearing down"; down' ERR
  mkdir -p "$DIR/bin" /run/sshd  # /run/sshd: sshd's privilege-separation folder
  chmod 700 "$DIR"

  ip netns add "$NS_A"
  ip netns add "$NS_B"
  ip link add "$VETH_A" type veth peer name "$VETH_B"
  ip link set "$VETH_A" netns "$NS_A"
  ip link set "$VETH_B" netns "$NS_B"
  ip -n "$NS_A" link set "$VETH_A" name "$IFACE"
  ip -n "$NS_B" link set "$VETH_B" name "$IFACE"
  ip -n "$NS_A" addr add "$ADDR_A/24" dev "$IFACE"
  ip -n "$NS_B" addr add "$ADDR_B/24" dev "$IFACE"
  for ns in "$NS_A" "$NS_B"; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -q -w "net.ipv6.conf.$IFACE.disable_ipv6=1" || true  # IPv4 only on the link
    ip -n "$ns" link set "$IFACE" up
  done

  # This machine's host name resolves, inside each namespace, to that namespace's address (`ip netns exec`
  # bind-mounts /etc/netns/NS/hosts over /etc/hosts), as a cluster host's name resolves to its own address.
  # Horovod 0.28.1 needs it: the Gloo contexts of its process sets, which carry the all-reduce, ignore
  # HOROVOD_GLOO_IFACE (--network-interface) and bind to the address of the host name
  # (GlooContext::InitializeForProcessSet reads its own, empty, gloo_iface_), here 127.0.0.1 otherwise.
  name=$(hostname)
  for pair in "$NS_A:$ADDR_A" "$NS_B:$ADDR_B"; do
    mkdir -p "/etc/netns/${pair%%:*}"
    { echo "${pair#*:} $name"; grep -vw -- "$name" /etc/hosts || true; } >"/etc/netns/${pair%%:*}/hosts"
  done

  ssh-keygen -q -t ed25519 -N '' -C keras-centernet-two-hosts -f "$DIR/id_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C keras-centernet-two-hosts-host -f "$DIR/ssh_host_ed25519_key"
  cp "$DIR/id_ed25519.pub" "$DIR/authorized_keys"
  chmod 600 "$DIR/authorized_keys"
  : >"$DIR/known_hosts"
  cat >"$DIR/ssh_config" <<EOF
Host *
  Port $PORT
  IdentityFile $DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $DIR/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking accept-new
  BatchMode yes
  LogLevel ERROR
EOF
  # horovodrun calls plain `ssh`: this wrapper (first on PATH in `run`) adds our config.
  printf '#!/bin/sh\nexec %s -F %s "$@"\n' "$SSH" "$DIR/ssh_config" >"$DIR/bin/ssh"
  chmod 755 "$DIR/bin/ssh"

  start_sshd "$NS_A" "$ADDR_A" a
  start_sshd "$NS_B" "$ADDR_B" b
  wait_ssh "$NS_A" "$ADDR_B"
  wait_ssh "$NS_B" "$ADDR_A"
  trap - ERR
  log "up: $NS_A $ADDR_A <-> $NS_B $ADDR_B on $IFACE, sshd port $PORT, state in $DIR"
}

run() {
  if [ ! -x "$DIR/bin/ssh" ] || ! ip netns list | grep -qw "^$NS_A"; then
    log "not up: run '$0 up' first"; exit 1
  fi
  exec ip netns exec "$NS_A" env PATH="$DIR/bin:$PATH" HOST_A="$ADDR_A" HOST_B="$ADDR_B" \
    HOSTS="${HOSTS:-$ADDR_A:1,$ADDR_B:1}" SSH_PORT="$PORT" SSH_IDENTITY_FILE="$DIR/id_ed25519" \
    NETWORK_INTERFACE="$IFACE" HOROVOD_GLOO_TIMEOUT_SECONDS="$GLOO_TIMEOUT" TWO_HOST_DIR="$DIR" "$@"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  run) shift; [ $# -gt 0 ] || { log "usage: $0 run CMD [ARGS...]"; exit 2; }; run "$@" ;;
  check) reason=$(unavailable); if [ -n "$reason" ]; then echo "$reason"; exit 77; fi ;;
  *) echo "usage: $0 up|down|run CMD...|check" >&2; exit 2 ;;
esac
