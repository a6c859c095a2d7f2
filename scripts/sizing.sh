#!/usr/bin/env bash
# make sizing / make sizing-doc: docs/sizing.md from salvo's own measured figures.
#
#   scripts/sizing.sh [BENCH FLAGS...]  measure: salvo bench --sizing --json (about 3 minutes
#                                       on 2 cores) into docs/sizing.json, then write the doc
#   scripts/sizing.sh --doc-only        only write docs/sizing.md from docs/sizing.json
#
# The doc is bench/sizing.md.tmpl filled in from the JSON (salvo bench --sizing-doc);
# TestSizingDocInSync (bench/) checks the two committed files agree. Never run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
SALVO=${SALVO:-bin/salvo}
json=docs/sizing.json
doc=docs/sizing.md

trap 'rm -f "$json.tmp" "$doc.tmp"' EXIT
if [ "${1:-}" != "--doc-only" ]; then
	# Written aside and moved into place, so a failed run keeps the last figures.
	"$SALVO" bench --sizing --json "$@" >"$json.tmp"
	mv "$json.tmp" "$json"
fi
"$SALVO" bench --sizing-doc "$json" >"$doc.tmp"
mv "$doc.tmp" "$doc"
echo "wrote $doc from $json"
