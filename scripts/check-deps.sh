#!/usr/bin/env bash
# The dependency rule of docs/design.md: the job model, the store and the
# config never pull in the executors' network libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(go list -deps ./job ./nodeset ./auth ./store ./conf ./throttle | grep -E '^(github.com/valyala/fasthttp|golang.org/x/crypto/ssh|github.com/salvo-sh/salvo/(commands|actors|httpapi))' || true)
if [ -n "$bad" ]; then
	echo "dependency rule broken: job, nodeset, auth, store, conf or throttle import:" >&2
	echo "$bad" >&2
	exit 1
fi
std=$(go list -deps ./job ./nodeset ./auth | grep -vE '^github.com/salvo-sh/salvo/(job|nodeset|auth)$' | grep -E '^[^/]*\.' || true) # a module path's first element has a dot
if [ -n "$std" ]; then
	echo "job, nodeset and auth must use the standard library only; they import:" >&2
	echo "$std" >&2
	exit 1
fi
echo "dependency rule: ok"
