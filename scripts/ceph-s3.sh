#!/usr/bin/env bash
# scripts/ceph-s3.sh — a throw-away, single-node Ceph cluster serving S3 on 127.0.0.1,
# for blockvault's integration tests and CI. A real, strict server: SigV4 auth,
# Content-MD5 checks, conditional PUT (If-None-Match: *), paging, multipart.
#
#   scripts/ceph-s3.sh start          install packages if missing, bootstrap or restart (idempotent)
#   scripts/ceph-s3.sh stop [--purge] stop the daemons; --purge also deletes $CEPH_S3_DIR
#   scripts/ceph-s3.sh env            print `export S3_ENDPOINT=… S3_ACCESS_KEY=… S3_SECRET_KEY=…`
#   scripts/ceph-s3.sh status         exit 0 when S3 answers, 3 when stopped
#
# Layout: 1 mon, 1 OSD (BlueStore on a sparse file), radosgw (beast), no mgr (RADOS and RGW
# do not need one). Everything — config, keyring, pid files, sockets, logs, data — lives in
# $CEPH_S3_DIR; nothing is written to /etc/ceph or /var/lib/ceph. Needs root and Debian 12.
#
# Environment:
#   CEPH_S3_DIR    state folder                    (default /var/tmp/ceph-s3)
#   CEPH_S3_PORT   S3 port                         (default 7480)
#   CEPH_S3_SIZE   OSD size in bytes, sparse       (default 10 GiB)
#   S3_ACCESS_KEY / S3_SECRET_KEY  keys of the S3 user, used at first start (default testkey / testsecret)
set -euo pipefail

DIR=${CEPH_S3_DIR:-/var/tmp/ceph-s3}
PORT=${CEPH_S3_PORT:-7480}
SIZE=${CEPH_S3_SIZE:-10737418240}
MON_V2=${CEPH_S3_MON_PORT:-3300}
MON_V1=${CEPH_S3_MON_V1_PORT:-6789}
PACKAGES=(ceph-mon ceph-osd radosgw curl)

export CEPH_CONF=$DIR/ceph.conf
export CEPH_KEYRING=$DIR/keyring
CEPH=(ceph --conf "$CEPH_CONF" --keyring "$CEPH_KEYRING" --connect-timeout 20)

t0=$EPOCHREALTIME
say() { printf '[ceph-s3 %5ss] %s\n' "$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.1f", a-b}')" "$*"; }
die() { echo "ceph-s3: $*" >&2; exit 1; }

# alive PIDFILE COMM: the pid in PIDFILE runs COMM and is not a zombie. PID 1 on these
# machines reaps orphans late, so `kill -0` alone would call a dead daemon alive; and
# checking COMM keeps a recycled pid from passing for our daemon.
alive() {
  local p; p=$(cat "$1" 2>/dev/null) || return 1
  [ "$(cat /proc/"$p"/comm 2>/dev/null)" = "$2" ] && ! grep -q '^State:.*Z' /proc/"$p"/status 2>/dev/null
}
s3_code() { curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/" 2>/dev/null || true; }
osd_id() { cat "$DIR/osd/whoami" 2>/dev/null || echo 0; }
all_alive() {
  alive "$DIR/run/mon.a.pid" ceph-mon && alive "$DIR/run/osd.$(osd_id).pid" ceph-osd &&
    alive "$DIR/run/client.rgw.s3.pid" radosgw
}

install_packages() {
  local missing=0 b
  for b in ceph-mon ceph-osd radosgw radosgw-admin ceph-authtool monmaptool ceph uuidgen curl; do
    command -v "$b" >/dev/null || missing=1
  done
  [ "$missing" = 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "Ceph packages are missing and installing them needs root: apt-get install -y --no-install-recommends ${PACKAGES[*]}"
  say "installing ${PACKAGES[*]} (Debian 12 has Ceph 16.2 Pacific)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  say "packages installed"
}

write_config() {
  local fsid=$1
  cat >"$DIR/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
keyring = $DIR/keyring
crash dir = $DIR/crash
# One OSD: no replication, and few PGs per pool (radosgw creates ~8 pools; Pacific's default
# of 32 PGs each would pass the 250-PGs-per-OSD limit).
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon allow pool delete = true
mon warn on insecure global id reclaim allowed = false
[mon]
mon data = $DIR/mon
mon cluster log file = $DIR/log/cluster.log
# a test disk may be nearly full; do not let the mon refuse to work
mon data avail warn = 2
mon data avail crit = 1
# radosgw creates its pools one by one; a short propose interval halves bootstrap (17 s -> 8 s)
paxos propose interval = 0.1
[osd]
osd data = $DIR/osd
osd objectstore = bluestore
# BlueStore creates its block file itself, sparse. (Setting 'bluestore block path' to
# osd data/block makes mkfs fail with ELOOP.)
bluestore block create = true
bluestore block size = $SIZE
bluestore fsck on mount = false
osd memory target = 1073741824
[client.rgw.s3]
# tcp_nodelay: with Nagle on, beast sends a small body ~40 ms after its headers on a kept-alive
# connection (the client's delayed ACK): every manifest, lease or index GET took 48 ms, against
# 3 ms with it off, as production S3 endpoints answer.
rgw frontends = beast endpoint=127.0.0.1:$PORT tcp_nodelay=1
rgw data = $DIR/rgw
rgw thread pool size = 64
EOF
}

bootstrap_mon() {
  local fsid; fsid=$(uuidgen)
  write_config "$fsid"
  # One keyring for every entity: ceph-mon --mkfs imports them all, saving CLI round trips.
  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$DIR/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
  ceph-authtool "$DIR/keyring" --gen-key -n client.rgw.s3 --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]" "$DIR/monmap" >/dev/null
  ceph-mon --conf "$CEPH_CONF" -i a --mkfs --monmap "$DIR/monmap" --keyring "$DIR/keyring"
  say "mon store created"
}

bootstrap_osd() {
  local uuid key id
  uuid=$(uuidgen)
  key=$(ceph-authtool --gen-print-key)
  printf '{"cephx_secret": "%s"}' "$key" >"$DIR/osd-new.json"
  id=$("${CEPH[@]}" osd new "$uuid" -i "$DIR/osd-new.json")
  rm -f "$DIR/osd-new.json"
  printf '[osd.%s]\n\tkey = %s\n' "$id" "$key" >>"$DIR/keyring"
  ceph-osd --conf "$CEPH_CONF" -i "$id" --mkfs --osd-uuid "$uuid" >"$DIR/log/osd-mkfs.log" 2>&1 ||
    { tail -5 "$DIR/log/osd-mkfs.log" >&2; die "OSD mkfs failed; see $DIR/log/osd-mkfs.log"; }
  say "osd.$id created (BlueStore on a sparse $((SIZE >> 30)) GiB file)"
}

start() {
  # Already up: a no-op, so callers (CI, test helpers, people) can always just say start.
  if [ -f "$DIR/s3.env" ] && all_alive && [ "$(s3_code)" = 200 ]; then
    say "already running on http://127.0.0.1:$PORT"
    return 0
  fi
  install_packages
  # The port must be ours: another server answering there would make the tests lie.
  if ! alive "$DIR/run/client.rgw.s3.pid" radosgw && [ "$(s3_code)" != 000 ]; then
    die "something else already listens on 127.0.0.1:$PORT; stop it or set CEPH_S3_PORT"
  fi
  mkdir -p "$DIR"/{run,log,mon,osd,rgw,crash}

  [ -f "$DIR/ceph.conf" ] && [ -f "$DIR/mon/store.db/CURRENT" ] || bootstrap_mon
  alive "$DIR/run/mon.a.pid" ceph-mon || ceph-mon --conf "$CEPH_CONF" -i a 2>>"$DIR/log/stderr.log"
  say "mon up"

  [ -f "$DIR/osd/whoami" ] || bootstrap_osd
  local id; id=$(osd_id)
  alive "$DIR/run/osd.$id.pid" ceph-osd || ceph-osd --conf "$CEPH_CONF" -i "$id" 2>>"$DIR/log/stderr.log"
  local _
  for _ in $(seq 120); do
    "${CEPH[@]}" osd dump 2>/dev/null | grep -q "^osd.$id up" && break
    sleep 0.5
  done
  "${CEPH[@]}" osd dump | grep -q "^osd.$id up" || die "osd.$id did not come up in 60 s; see $DIR/log/osd.$id.log"
  say "osd.$id up"

  alive "$DIR/run/client.rgw.s3.pid" radosgw || radosgw --conf "$CEPH_CONF" -n client.rgw.s3 2>>"$DIR/log/stderr.log"
  local code=000
  for _ in $(seq 240); do
    code=$(s3_code)
    [ "$code" = 200 ] && break
    sleep 0.5
  done
  [ "$code" = 200 ] || die "radosgw not answering on 127.0.0.1:$PORT after 120 s; see $DIR/log/client.rgw.s3.log"
  say "radosgw answering on http://127.0.0.1:$PORT"

  # s3.env is written once the user exists; its keys are the ones `env` prints later,
  # whatever S3_ACCESS_KEY/S3_SECRET_KEY say then.
  if [ ! -f "$DIR/s3.env" ]; then
    local ak=${S3_ACCESS_KEY:-testkey} sk=${S3_SECRET_KEY:-testsecret}
    if ! radosgw-admin --conf "$CEPH_CONF" -n client.admin user info --uid=test >/dev/null 2>&1; then
      radosgw-admin --conf "$CEPH_CONF" -n client.admin user create --uid=test --display-name=test \
        --access-key="$ak" --secret-key="$sk" >/dev/null
      say "S3 user 'test' created"
    fi
    printf 'export S3_ENDPOINT=http://127.0.0.1:%s S3_ACCESS_KEY=%s S3_SECRET_KEY=%s\n' "$PORT" "$ak" "$sk" >"$DIR/s3.env.tmp"
    mv "$DIR/s3.env.tmp" "$DIR/s3.env"
  fi
  say "ready: http://127.0.0.1:$PORT (path-style, region us-east-1); state in $DIR"
}

stop() {
  # radosgw first, the mon last: each still has what it needs to shut down cleanly.
  local pair pf comm pid _
  for pair in client.rgw.s3:radosgw "osd.$(osd_id)":ceph-osd mon.a:ceph-mon; do
    pf=$DIR/run/${pair%%:*}.pid comm=${pair##*:}
    [ -f "$pf" ] || continue
    if alive "$pf" "$comm"; then
      pid=$(cat "$pf")
      kill -TERM "$pid"
      for _ in $(seq 150); do alive "$pf" "$comm" || break; sleep 0.2; done
      if alive "$pf" "$comm"; then
        echo "ceph-s3: $comm ($pid) ignored SIGTERM for 30 s; sending SIGKILL" >&2
        kill -KILL "$pid"
      fi
    fi
    rm -f "$pf"
  done
  say "stopped (data kept in $DIR)"
  if [ "${1:-}" = --purge ]; then
    rm -rf "$DIR"
    say "removed $DIR"
  fi
}

status() {
  local pair pf comm state rc=0
  for pair in mon.a:ceph-mon "osd.$(osd_id)":ceph-osd client.rgw.s3:radosgw; do
    pf=$DIR/run/${pair%%:*}.pid comm=${pair##*:}
    if alive "$pf" "$comm"; then state="running (pid $(cat "$pf"))"; else state=stopped; rc=3; fi
    printf '%-14s %s\n' "${pair%%:*}" "$state"
  done
  local code; code=$(s3_code)
  printf '%-14s %s\n' "s3" "http://127.0.0.1:$PORT -> HTTP $code"
  [ "$code" = 200 ] || rc=3
  return "$rc"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  env)
    [ -f "$DIR/s3.env" ] || die "no cluster in $DIR yet; run: $0 start"
    cat "$DIR/s3.env" ;;
  status) status ;;
  *) echo "usage: $0 start | stop [--purge] | env | status" >&2; exit 2 ;;
esac
