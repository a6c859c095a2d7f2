#!/usr/bin/env bash
# make image: stage the build context of deploy/docker/Dockerfile in a
# temporary directory (the static binary, the host's CA certificates, a
# passwd and group naming the user salvo, uid 10001, an empty data dir
# and a /tmp) and build the image with every TAG given. No registry is needed:
# the image starts FROM scratch.
#   scripts/image.sh STATIC_BINARY TAG...
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
	echo "usage: scripts/image.sh STATIC_BINARY TAG..." >&2
	exit 2
fi
bin=$1
shift
CA=${CA_CERTIFICATES:-/etc/ssl/certs/ca-certificates.crt}
[ -x "$bin" ] || { echo "image: $bin is missing: run make build-static" >&2; exit 1; }
[ -s "$CA" ] || { echo "image: $CA is missing (apt-get install ca-certificates)" >&2; exit 1; }
ctx=$(mktemp -d "${TMPDIR:-/tmp}/salvo-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
cp "$bin" "$ctx/salvo"
cp "$CA" "$ctx/ca-certificates.crt"
echo 'salvo:x:10001:10001:salvo:/data:/sbin/nologin' >"$ctx/passwd"
echo 'salvo:x:10001:' >"$ctx/group"
mkdir "$ctx/data" "$ctx/tmp"

tags=()
for t in "$@"; do tags+=(-t "$t"); done
docker build -q -f deploy/docker/Dockerfile "${tags[@]}" "$ctx"
echo "image: built $*"
