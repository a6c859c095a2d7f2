#!/usr/bin/env bash
# make cluster-ha: three masters forming a Raft group (docs/ha.md) and two
# workers, on loopback, in the background. Each master has its own
# loopback address (127.0.0.11, .12, .13: Linux routes all of 127/8 to lo)
# and the same ports; the workers are on 127.0.0.1. The masters share one
# secret.key (the key that seals SSH credentials), made here once.
# `scripts/cluster-ha.sh stop` (or `make cluster-ha-stop`) stops them;
# `scripts/cluster-ha.sh leader` prints the Raft leader's name.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/salvo}
DIR=${CLUSTER_HA_DIR:-${TMPDIR:-/tmp}/salvo-cluster-ha}
BASE=${CLUSTER_HA_PORT:-17100}
WAIT=${CLUSTER_HA_WAIT:-60} # seconds to wait for a leader and the workers
MASTERS=(m1 m2 m3)
WORKERS=(w1 w2)

master_ip() { echo "127.0.0.1${1#m}"; } # m1 -> 127.0.0.11
api_of() {
	case $1 in
	m*) echo "http://$(master_ip "$1"):$BASE" ;;
	w*) echo "http://127.0.0.1:$((BASE + 20 + 10 * ${1#w}))" ;;
	esac
}

pidfiles() { compgen -G "$DIR/*.pid" || true; }

# ours PID NAME says whether pid is still the node NAME started here, not
# a process that reused the pid of a node gone (without /proc: alive).
ours() {
	if [ -d /proc/self ]; then
		tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -q -- "server --name $2 "
	else
		kill -0 "$1" 2>/dev/null
	fi
}

# alive lists the nodes whose pid file names a running process.
alive() {
	local f
	for f in $(pidfiles); do
		ours "$(cat "$f")" "$(basename "$f" .pid)" && basename "$f" .pid
	done
	return 0
}

# signal sends a signal to every node still running.
signal() {
	local n
	for n in $(alive); do kill "-$1" "$(cat "$DIR/$n.pid")" 2>/dev/null || true; done
}

stop() {
	local files
	files=$(pidfiles)
	if [ -z "$files" ]; then
		echo "no HA cluster running from $DIR"
		return 0
	fi
	signal TERM
	# A master's graceful stop hands the leadership over first: allow it
	# 15 s, then SIGKILL what is left.
	for _ in $(seq 1 150); do
		[ -z "$(alive)" ] && break
		sleep 0.1
	done
	left=$(alive | tr '\n' ' ')
	if [ -n "$left" ]; then
		echo "still running after 15 s, sending SIGKILL: $left"
		signal KILL
		for _ in $(seq 1 50); do
			[ -z "$(alive)" ] && break
			sleep 0.1
		done
	fi
	rm -f $files
	echo "HA cluster stopped (logs and data in $DIR)"
}

# field prints the first string value of a JSON key in stdin's JSON.
field() { grep -o "\"$1\":\"[^\"]*\"" | head -n 1 | cut -d'"' -f4; }

# leader prints the Raft leader's name as the first master that answers
# sees it (empty: none yet).
leader() {
	local m name
	for m in "${MASTERS[@]}"; do
		name=$(curl -fsS --max-time 2 "$(api_of "$m")/api/v1/cluster/raft" 2>/dev/null | field leader || true)
		if [ -n "$name" ]; then
			echo "$name"
			return 0
		fi
	done
}

# workers_ready says whether the leader's members list has both workers alive.
workers_ready() {
	local body w
	body=$(curl -fsS --max-time 3 "$(api_of "$1")/api/v1/cluster/members" 2>/dev/null) || return 1
	for w in "${WORKERS[@]}"; do
		grep -q "\"name\":\"$w\"[^}]*\"state\":\"alive\"[^}]*\"capacity\":[1-9]" <<<"$body" || return 1
	done
}

case ${1:-start} in
stop)
	stop
	exit 0
	;;
leader)
	name=$(leader)
	[ -n "$name" ] || { echo "no raft leader now" >&2; exit 1; }
	echo "$name"
	exit 0
	;;
start) ;;
*)
	echo "usage: scripts/cluster-ha.sh [start|stop|leader]" >&2
	exit 2
	;;
esac
if [ -n "$(alive)" ]; then
	echo "an HA cluster is already running from $DIR; run: scripts/cluster-ha.sh stop" >&2
	exit 1
fi
rm -f $(pidfiles)
mkdir -p "$DIR"

# One secret.key for every master, as auth.LoadSealer reads it: 32 random
# bytes in base64 and a newline, mode 0600.
if [ ! -s "$DIR/secret.key" ]; then
	(umask 077 && head -c 32 /dev/urandom | base64 >"$DIR/secret.key")
fi
join=""
for m in "${MASTERS[@]}"; do join="$join${join:+,}$(master_ip "$m"):$((BASE + 1))"; done
for m in "${MASTERS[@]}"; do
	ip=$(master_ip "$m")
	mkdir -p "$DIR/$m"
	install -m 600 "$DIR/secret.key" "$DIR/$m/secret.key"
	"$BIN" server --name "$m" --roles master --data-dir "$DIR/$m" --http-addr "$ip:$BASE" \
		--gossip-addr "$ip:$((BASE + 1))" --remote-addr "$ip:$((BASE + 2))" --raft-addr "$ip:$((BASE + 3))" \
		--bootstrap-expect 3 --join "$join" 2>"$DIR/$m.log" &
	echo $! >"$DIR/$m.pid"
done
for w in "${WORKERS[@]}"; do
	port=$((BASE + 20 + 10 * ${w#w}))
	"$BIN" server --name "$w" --roles worker --data-dir "$DIR/$w" --http-addr "127.0.0.1:$port" \
		--gossip-addr "127.0.0.1:$((port + 1))" --remote-addr "127.0.0.1:$((port + 2))" \
		--join "$join" 2>"$DIR/$w.log" &
	echo $! >"$DIR/$w.pid"
done

lead=""
ready=0
for _ in $(seq 1 $((WAIT * 5))); do
	lead=$(leader)
	if [ -n "$lead" ] && workers_ready "$lead"; then
		ready=1
		break
	fi
	if [ "$(alive | wc -l)" -lt $((${#MASTERS[@]} + ${#WORKERS[@]})) ]; then
		break # a node exited: its log says why
	fi
	sleep 0.2
done
if [ "$ready" = 0 ]; then
	echo "the HA cluster is not ready within ${WAIT}s (leader: ${lead:-none}); the logs' last lines:" >&2
	for f in "$DIR"/*.log; do
		echo "== $f" >&2
		tail -n 5 "$f" >&2
	done
	stop >&2
	exit 1
fi

other=m1
[ "$lead" = m1 ] && other=m2
cat <<MSG
salvo HA cluster running: 3 masters in a Raft group, 2 workers; the raft leader is $lead.
  masters' APIs: m1 $(api_of m1)  m2 $(api_of m2)  m3 $(api_of m3)  (followers forward writes to the leader)
  workers' APIs: w1 $(api_of w1)  w2 $(api_of w2)
Logs (NAME.log), pid files (NAME.pid) and data in $DIR.

  curl -s $(api_of m1)/api/v1/cluster/raft
  curl -s $(api_of m2)/api/v1/cluster/members
  bin/salvo fleet --listen 0.0.0.0:18281 --hosts 100000 &
  bin/salvo fleet --listen 0.0.0.0:18281 --targets 100000 > /tmp/targets.txt
  bin/salvo run --server $(api_of m3) --targets-file /tmp/targets.txt --path /x --concurrency 500
  curl -s -X POST '$(api_of "$lead")/api/v1/cluster/raft/transfer?to=$other'  # hand the leadership to $other
  scripts/cluster-ha.sh leader                                   # the leader now
  kill -9 \$(cat $DIR/\$(scripts/cluster-ha.sh leader).pid)   # kill the leader (mid-job, say): another leads within seconds
  scripts/cluster-ha.sh leader

Stop it with: scripts/cluster-ha.sh stop   (or make cluster-ha-stop)
MSG
