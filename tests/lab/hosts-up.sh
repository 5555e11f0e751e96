#!/usr/bin/env bash
# Lab hosts: N systemd-booted Debian 12 machines on this machine, for the lab tier of the tests.
#
# Each host hN (N = 1..HOSTS) is a systemd-nspawn container booted from its own overlayfs root
# over one shared debootstrap image, inside its own network namespace hN whose only interface,
# eth0, is a veth on the bridge br-lab. Addresses: the root namespace is 10.77.0.1/24 on br-lab,
# host hN is 10.77.0.(10+N) (h1 10.77.0.11, h2 10.77.0.12, ... h10 10.77.0.20). No namespace
# gets a default route: a lab host reaches the bridge and nothing beyond it. Addresses
# 10.77.0.100-10.77.0.127 are left free for tests (VIPs).
#
# Usage: hosts-up.sh [N]            (or HOSTS=N; default 2, at most 89)
# Reach a host: ssh -i "$LAB/id_ed25519" root@10.77.0.11
# Inventory:    "$LAB/inventory", one "name address" line per host (for the tests).
# Tear down:    hosts-down.sh (stops what this started, by PID).
#
# Environment:
#   PM4ML_CACHE      cache root (default ~/.cache/pm4ml-onprem)
#   PM4ML_LAB_IMAGE  the debootstrap image (default $PM4ML_CACHE/lab/image); built when absent or
#                    when its package list changed, never while hosts use it
#   PM4ML_LAB_DIR    runtime state: key, overlays, pid files, logs (default $PM4ML_CACHE/lab/run)
#   PM4ML_LAB_MIRROR Debian mirror for the image build (default http://deb.debian.org/debian)
#   PM4ML_LAB_PKGS   extra packages for the image, comma-separated (added to the base list)
#   PM4ML_LAB_BOOT_TIMEOUT seconds to wait for each host's systemd and sshd (default 90)
#   PM4ML_LAB_BIND   extra bind mounts, space-separated HOST=SRC[:DST] (systemd-nspawn --bind),
#                    e.g. "h4=/dev/loop3:/dev/sdb" gives h4 that block device as /dev/sdb; HOST
#                    "all" binds into every host; applied when the host boots (a host already
#                    running keeps what it has)
#   PM4ML_LAB_BIND_RO the same, read-only (systemd-nspawn --bind-ro)
#   PM4ML_LAB_PROVISION a program run as `PROVISION HOST ROOTDIR` before a host boots (e.g. the
#                    lab doubles' install.sh, which links them into the host's /usr/local/bin)
#   PM4ML_LAB_NETNS  when set, br-lab (and 10.77.0.1) live in this network namespace instead of
#                    the root one: created when missing, refused when it has a default route.
#                    The full-stack lab runs all its servers and `pulumi up` in it.
#   PM4ML_LAB_NSPREFIX prefix of the hosts' namespace names (default none: h1, h2, ...), so two
#                    labs with their own PM4ML_LAB_NETNS and PM4ML_LAB_DIR can run at once
# Needs root, debootstrap, systemd-container (systemd-nspawn), iproute2, openssh-client.
set -euo pipefail

CACHE=${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}
IMG=${PM4ML_LAB_IMAGE:-$CACHE/lab/image}
LAB=${PM4ML_LAB_DIR:-$CACHE/lab/run}
HOSTS=${1:-${HOSTS:-2}}
MIRROR=${PM4ML_LAB_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
BOOT_TIMEOUT=${PM4ML_LAB_BOOT_TIMEOUT:-90}
BRIDGE=br-lab
NET=10.77.0
# What the components install on lab hosts must already be in the image: lab hosts have no route
# to a mirror, so ensure_packages finds everything installed.
# hostprep's base step: ca-certificates chrony curl jq nftables; its tuning step: kmod (modprobe);
# netbase: /etc/protocols, as on every Ubuntu server (nft resolves protocol names with it).
PKGS=systemd,systemd-sysv,dbus,openssh-server,iproute2,iputils-ping,procps,curl,ca-certificates,python3,sudo,haproxy,keepalived,nftables,chrony,jq,kmod,netbase
# Bump when the image recipe below changes (the marker then differs and the image is rebuilt).
RECIPE=2
[ -z "${PM4ML_LAB_PKGS:-}" ] || PKGS=$PKGS,$PM4ML_LAB_PKGS

die() { printf 'hosts-up: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, overlayfs, systemd-nspawn)"
if ! [[ $HOSTS =~ ^[0-9]+$ ]] || [ "$HOSTS" -lt 1 ] || [ "$HOSTS" -gt 89 ]; then die "HOSTS=$HOSTS: use 1..89"; fi

addr() { echo "$NET.$((10 + $1))"; }

read -ra BINDS <<<"${PM4ML_LAB_BIND:-}"
read -ra BINDS_RO <<<"${PM4ML_LAB_BIND_RO:-}"
for b in "${BINDS[@]}" "${BINDS_RO[@]}"; do
  [[ $b =~ ^(h[0-9]+|all)=/[^:]+(:/[^:]+)?$ ]] || die "PM4ML_LAB_BIND(_RO) entry '$b': use HOST=SRC[:DST] (HOST hN or all), e.g. h4=/dev/loop3:/dev/sdb"
done
PROVISION=${PM4ML_LAB_PROVISION:-}
[ -z "$PROVISION" ] || [ -x "$PROVISION" ] || die "PM4ML_LAB_PROVISION=$PROVISION is not an executable"
LABNS=${PM4ML_LAB_NETNS:-}
NSPREFIX=${PM4ML_LAB_NSPREFIX:-}
[ -z "$NSPREFIX" ] || [[ $NSPREFIX =~ ^[a-z][a-z0-9-]*$ ]] || die "PM4ML_LAB_NSPREFIX=$NSPREFIX: use a plain name"
[ -z "$LABNS" ] || [[ $LABNS =~ ^[a-z][a-z0-9-]*$ ]] || die "PM4ML_LAB_NETNS=$LABNS: use a plain name"
# nspawn_binds HOST: the --bind/--bind-ro options PM4ML_LAB_BIND(_RO) give that host, one per line.
nspawn_binds() {
  local b
  for b in "${BINDS[@]}"; do
    case ${b%%=*} in "$1" | all) printf -- '--bind=%s\n' "${b#*=}" ;; esac
  done
  for b in "${BINDS_RO[@]}"; do
    case ${b%%=*} in "$1" | all) printf -- '--bind-ro=%s\n' "${b#*=}" ;; esac
  done
}

if ! command -v debootstrap >/dev/null || ! command -v systemd-nspawn >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap systemd-container iproute2 openssh-client >/dev/null
fi
mkdir -p "$LAB" "$(dirname "$IMG")"
exec 9>"$LAB/.lock"
flock -w 600 9 || die "another hosts-up/hosts-down holds $LAB/.lock"

# --- image: built once, cached; the marker records what it was built from.
want="suite=$SUITE pkgs=$PKGS recipe=$RECIPE"
if [ ! -x "$IMG/lib/systemd/systemd" ] || [ "$(cat "$IMG/.pm4ml-lab-image" 2>/dev/null)" != "$want" ]; then
  if grep -qs " $LAB/hosts/" /proc/mounts; then
    die "the image $IMG must be rebuilt but lab hosts still use it: run hosts-down.sh first"
  fi
  tmp="$IMG.building"
  rm -rf "$tmp"
  start=$SECONDS
  echo "hosts-up: building the image $IMG ($SUITE from $MIRROR)"
  debootstrap --variant=minbase --include="$PKGS" "$SUITE" "$tmp" "$MIRROR" >"$LAB/debootstrap.log" 2>&1 ||
    die "debootstrap failed, see $LAB/debootstrap.log"
  mkdir -p "$tmp/root/.ssh"
  chmod 700 "$tmp/root/.ssh"
  chroot "$tmp" systemctl enable ssh >/dev/null 2>&1
  # Services under test are installed but neither enabled nor running at boot: the components'
  # scripts enable and start them, as on a fresh machine.
  chroot "$tmp" systemctl disable haproxy keepalived nftables chrony >/dev/null 2>&1 || true
  # The hosts share this machine's clock: chronyd runs, but never controls it (-x), so it needs
  # no CAP_SYS_TIME (which the unit's condition would otherwise require).
  mkdir -p "$tmp/etc/systemd/system/chrony.service.d"
  cat >"$tmp/etc/systemd/system/chrony.service.d/pm4ml-lab.conf" <<'UNIT'
# pm4ml lab: the hosts share the machine's clock; chronyd must not set it
[Unit]
ConditionCapability=
[Service]
ExecStart=
ExecStart=!/usr/sbin/chronyd $DAEMON_OPTS -x
UNIT
  rm -f "$tmp"/etc/ssh/ssh_host_*
  chroot "$tmp" ssh-keygen -A >/dev/null
  printf '127.0.0.1 localhost\n' >"$tmp/etc/hosts"
  rm -rf "$tmp"/var/cache/apt/archives/*.deb
  printf '%s\n' "$want" >"$tmp/.pm4ml-lab-image"
  rm -rf "$IMG"
  mv "$tmp" "$IMG"
  echo "hosts-up: image built in $((SECONDS - start)) s"
fi

[ -f "$LAB/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C pm4ml-lab -f "$LAB/id_ed25519"

# --- network: the bridge in the root namespace (or $LABNS), one namespace per host.
BR=(ip) # ip on the bridge's side
if [ -n "$LABNS" ]; then
  [ -e "/run/netns/$LABNS" ] || ip netns add "$LABNS"
  ip -n "$LABNS" link set lo up
  if [ -n "$(ip -n "$LABNS" route show default)" ]; then die "namespace $LABNS has a default route"; fi
  BR=(ip -n "$LABNS")
fi
if ! "${BR[@]}" link show "$BRIDGE" >/dev/null 2>&1; then
  "${BR[@]}" link add "$BRIDGE" type bridge
  "${BR[@]}" addr add "$NET.1/24" dev "$BRIDGE"
  "${BR[@]}" link set "$BRIDGE" up
fi

running() { [ -f "$LAB/$1.pid" ] && kill -0 "$(cat "$LAB/$1.pid")" 2>/dev/null; }

: >"$LAB/inventory.tmp"
for i in $(seq 1 "$HOSTS"); do
  h=h$i ip=$(addr "$i") d=$LAB/hosts/h$i ns=$NSPREFIX$h
  printf '%s %s\n' "$h" "$ip" >>"$LAB/inventory.tmp"
  if [ ! -e "/run/netns/$ns" ]; then
    ip netns add "$ns"
    "${BR[@]}" link add "veth-$h" type veth peer name eth0 netns "$ns"
    "${BR[@]}" link set "veth-$h" master "$BRIDGE" up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  fi
  # never a default route: nothing a lab host sends can leave the bridge
  if [ -n "$(ip -n "$ns" route show default)" ]; then die "namespace $ns has a default route"; fi
  if running "$h"; then continue; fi
  mkdir -p "$d"/{upper,work,root}
  mountpoint -q "$d/root" || mount -t overlay overlay -o "lowerdir=$IMG,upperdir=$d/upper,workdir=$d/work" "$d/root"
  install -m 600 "$LAB/id_ed25519.pub" "$d/root/root/.ssh/authorized_keys"
  echo "$h" >"$d/root/etc/hostname"
  [ -z "$PROVISION" ] || "$PROVISION" "$h" "$d/root" || die "$PROVISION $h failed"
done
mv "$LAB/inventory.tmp" "$LAB/inventory"

for i in $(seq 1 "$HOSTS"); do
  h=h$i d=$LAB/hosts/h$i
  { printf '127.0.0.1 localhost %s\n' "$h"; awk '{print $2, $1}' "$LAB/inventory"; } >"$d/root/etc/hosts"
  running "$h" && continue
  mapfile -t extra < <(nspawn_binds "$h")
  # /proc/sys/net writable: the network sysctls of the host's own namespace are the host's to
  # set, as on a real machine; the rest of /proc/sys stays read-only (shared with this machine).
  # In that mode nspawn mounts only parts of /sys: /sys/module (the kernel's modules, read-only)
  # is bound explicitly.
  SYSTEMD_NSPAWN_API_VFS_WRITABLE=network nohup systemd-nspawn -D "$d/root" -b -M "$h" --register=no --keep-unit --console=passive \
    --network-namespace-path="/run/netns/$NSPREFIX$h" --capability=CAP_NET_ADMIN,CAP_NET_RAW --bind-ro=/sys/module "${extra[@]}" \
    </dev/null >"$LAB/$h.log" 2>&1 9>&- & # 9>&-: the host must not hold the lock
  echo $! >"$LAB/$h.pid"
done

SSH=(ssh)
[ -z "$LABNS" ] || SSH=(ip netns exec "$LABNS" ssh)
ssh_opts=(-i "$LAB/id_ed25519" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  -o LogLevel=ERROR -o ConnectTimeout=2 -o BatchMode=yes)
for i in $(seq 1 "$HOSTS"); do
  h=h$i ip=$(addr "$i") deadline=$((SECONDS + BOOT_TIMEOUT)) ok=no
  while [ $SECONDS -lt $deadline ]; do
    running "$h" || die "$h exited while booting, see $LAB/$h.log"
    if timeout 20 "${SSH[@]}" "${ssh_opts[@]}" "root@$ip" 'systemctl is-system-running --wait >/dev/null 2>&1; hostname' >/dev/null 2>&1; then
      ok=yes
      break
    fi
    sleep 1
  done
  [ $ok = yes ] || die "$h ($ip) did not answer SSH within ${BOOT_TIMEOUT}s, see $LAB/$h.log"
  echo "hosts-up: $h $ip up"
done
