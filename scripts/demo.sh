#!/usr/bin/env bash
# make demo: a single-node salvo server and a simulated fleet of 10,000 hosts
# on loopback, one job submitted through the CLI, its progress and summary.
# Everything started here is stopped when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/salvo}
HOSTS=${HOSTS:-10000}
FLEET_PORT=${FLEET_PORT:-18081}
API_ADDR=${API_ADDR:-127.0.0.1:18080}
WORK=$(mktemp -d -t salvo-demo.XXXXXX)
pids=()

cleanup() {
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

echo "== starting a fleet of $HOSTS simulated hosts on 127.1.0.0/16, port $FLEET_PORT"
"$BIN" fleet --listen "0.0.0.0:$FLEET_PORT" --hosts "$HOSTS" --latency 1ms-20ms 2>"$WORK/fleet.log" &
pids+=($!)

echo "== starting salvo server on $API_ADDR (data in $WORK/data)"
"$BIN" server --http-addr "$API_ADDR" --data-dir "$WORK/data" 2>"$WORK/server.log" &
pids+=($!)

for _ in $(seq 1 100); do
	if (exec 3<>"/dev/tcp/${API_ADDR%:*}/${API_ADDR##*:}") 2>/dev/null && (exec 3<>"/dev/tcp/127.1.0.0/$FLEET_PORT") 2>/dev/null; then
		break
	fi
	sleep 0.1
done

"$BIN" fleet --listen "0.0.0.0:$FLEET_PORT" --targets "$HOSTS" >"$WORK/targets.txt"
echo "== salvo run: GET /version on $HOSTS hosts, aggregating version=(\\S+)"
set +e
"$BIN" run --server "http://$API_ADDR" --targets-file "$WORK/targets.txt" --path /version \
	--regex 'version=(\S+)' --concurrency 500 --name demo
status=$?
set -e
echo "== salvo run exited with status $status; stopping the server and the fleet"
exit "$status"
