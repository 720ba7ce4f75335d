#!/usr/bin/env bash
# .ci/s3-setup.sh — gives the test run a real S3 server: a throw-away single-node Ceph
# (radosgw on 127.0.0.1:7480, from Debian 12's packages) via scripts/ceph-s3.sh.
# Works on a fresh Debian 12 machine as root: apt-get update + install (~25-40 s), then
# bootstrap (~6-9 s). Progress goes to stderr; the last line on stdout is the
#   export S3_ENDPOINT=… S3_ACCESS_KEY=… S3_SECRET_KEY=…
# line the tests read (test/helpers/s3-server.ts), so a caller can also
#   eval "$(.ci/s3-setup.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "s3-setup: needs root (apt-get install, Ceph daemons)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
if ! command -v radosgw >/dev/null || ! command -v ceph-osd >/dev/null || ! command -v ceph-mon >/dev/null || ! command -v curl >/dev/null; then
  t=$SECONDS
  echo "s3-setup: installing ceph-mon ceph-osd radosgw curl" >&2
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends ceph-mon ceph-osd radosgw curl >/dev/null
  echo "s3-setup: packages installed in $((SECONDS - t)) s" >&2
fi

bash scripts/ceph-s3.sh start >&2
bash scripts/ceph-s3.sh status >&2
bash scripts/ceph-s3.sh env
