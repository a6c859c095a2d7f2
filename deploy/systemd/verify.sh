#!/bin/sh
# Checks deploy/systemd/*.service with systemd-analyze verify (make lint).
# The units name /usr/local/bin/salvo, which need not be installed here: they
# are verified in a scratch root holding the system's units and stand-ins
# for the binaries. Any warning fails: verify itself exits 0 on unknown keys.
set -eu
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "deploy/systemd/verify.sh: systemd-analyze not installed, skipping (the Go test in ./deploy checks the keys)"
	exit 0
fi
dir=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
cp /bin/true "$root/usr/local/bin/salvo"
cp /bin/sh "$root/bin/sh"
cp -a /lib/systemd/system "$root/usr/lib/systemd/"
units=""
for f in "$dir"/*.service; do
	cp "$f" "$root/etc/systemd/system/"
	u=$(basename "$f")
	case "$u" in *@.service) u="${u%@.service}@1.service" ;; esac
	units="$units $u"
done
# shellcheck disable=SC2086 # one word per unit
out=$(systemd-analyze --root="$root" verify $units 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
	echo "$out" | sed "s|$root/etc/systemd/system|deploy/systemd|"
	exit 1
fi
echo "systemd-analyze verify:$units: ok"
