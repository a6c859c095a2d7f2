#!/usr/bin/env bash
# make cluster: one master and three workers on loopback ports, in the
# background. `scripts/cluster.sh stop` (or `make cluster-stop`) stops them.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/salvo}
DIR=${CLUSTER_DIR:-/tmp/salvo-cluster}
BASE=${CLUSTER_PORT:-17000}

stop() {
	if [ -f "$DIR/pids" ]; then
		while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done <"$DIR/pids"
		for _ in $(seq 1 100); do
			alive=0
			while read -r pid; do kill -0 "$pid" 2>/dev/null && alive=1; done <"$DIR/pids"
			[ "$alive" = 0 ] && break
			sleep 0.1
		done
		rm -f "$DIR/pids"
		echo "cluster stopped (logs in $DIR)"
	else
		echo "no cluster running from $DIR"
	fi
}

if [ "${1:-start}" = "stop" ]; then
	stop
	exit 0
fi
if [ -f "$DIR/pids" ]; then
	echo "a cluster is already running from $DIR; run: scripts/cluster.sh stop" >&2
	exit 1
fi
mkdir -p "$DIR"
master_gossip="127.0.0.1:$((BASE + 1))"
"$BIN" server --name master --roles master --http-addr "127.0.0.1:$BASE" --data-dir "$DIR/master" \
	--gossip-addr "$master_gossip" --remote-addr "127.0.0.1:$((BASE + 2))" 2>"$DIR/master.log" &
echo $! >"$DIR/pids"
for i in 1 2 3; do
	port=$((BASE + 10 * i))
	"$BIN" server --name "worker-$i" --roles worker --http-addr "127.0.0.1:$port" \
		--gossip-addr "127.0.0.1:$((port + 1))" --remote-addr "127.0.0.1:$((port + 2))" \
		--join "$master_gossip" 2>"$DIR/worker-$i.log" &
	echo $! >>"$DIR/pids"
done

for _ in $(seq 1 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$BASE") 2>/dev/null; then break; fi
	sleep 0.1
done
cat <<MSG
salvo cluster running: master API http://127.0.0.1:$BASE (gossip $master_gossip),
workers' APIs http://127.0.0.1:$((BASE + 10)), :$((BASE + 20)), :$((BASE + 30)) (they forward to the master).
Logs and data in $DIR.

  curl -s http://127.0.0.1:$BASE/api/v1/cluster/members
  bin/salvo fleet --listen 0.0.0.0:18081 --hosts 100000 &
  bin/salvo fleet --listen 0.0.0.0:18081 --targets 100000 > /tmp/targets.txt
  bin/salvo run --server http://127.0.0.1:$BASE --targets-file /tmp/targets.txt --path /x --concurrency 500

Stop it with: scripts/cluster.sh stop   (or make cluster-stop)
MSG
