#!/usr/bin/env bash
# make bench-clush: salvo, clush (ClusterShell) and parallel-ssh (pssh) side by
# side on HOSTS (50) hosts of a real OpenSSH sshd on loopback: the addresses
# 127.0.0.1 … 127.0.0.HOSTS, one port. Each tool runs the same two commands,
# `uname -n` and one that fails (stderr "oops", exit 4) on the even addresses,
# RUNS (5) times each, the tools taking turns round by round, at a fanout of
# HOSTS. It prints a markdown table of wall times (median, min, max), CPU
# times of each tool and of sshd, and a sample of each tool's output on the failing command; every output of the
# first measured round is kept in OUT_DIR. Not part of `make test`
# (docs/benchmarks.md).
#
# Fair to all three: the same sshd, key, login and known_hosts file (host key
# checking strict everywhere: StrictHostKeyChecking=yes for clush's and
# pssh's ssh, --host-key-policy strict for salvo), `ssh -F /dev/null` so that
# no user or system ssh_config (ControlMaster, …) applies, one connection per
# host and command. salvo is timed from `salvo run`'s start to its summary
# (submit, run, gather, print: what a user waits for) against a single-node
# `salvo server` started here (auth off: loopback).
#
# sshd listens on at most 16 addresses per process (MAX_LISTEN_SOCKS), so
# the 50 addresses are served by ceil(50/16) sshd processes of one config
# (only ListenAddress differs) and one host key; each forks per connection
# as usual. Everything started here is stopped, and its temporary directory
# removed, when the script ends.
#
# Env: SALVO (bin/salvo), HOSTS (50), RUNS (5), WARMUP (1 unmeasured round),
# SSH_PORT (22390), API_ADDR (127.0.0.1:18390), OUT_DIR (a new temp dir, kept),
# TOOLS ("clush clush_setsid pssh salvo": those to run; clush_setsid is clush
# with each ssh in a session of its own, see run_clush_setsid), SSH_EXTRA
# (more options for clush's and pssh's ssh, e.g. "-o
# KexAlgorithms=curve25519-sha256", the key exchange salvo's client gets from
# sshd 9.2; by default ssh's own choice, sntrup761x25519-sha512).
set -euo pipefail
cd "$(dirname "$0")/.."

SALVO=${SALVO:-bin/salvo}
HOSTS=${HOSTS:-50}
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
SSH_PORT=${SSH_PORT:-22390}
API_ADDR=${API_ADDR:-127.0.0.1:18390}
SSHD=${SSHD:-/usr/sbin/sshd}
PER_SSHD=16 # sshd's MAX_LISTEN_SOCKS

# The failing command: the even addresses write "oops" to stderr and exit 4,
# the odd ones print "ok". The address is the third field of SSH_CONNECTION
# (the server's address), the same for every tool.
# shellcheck disable=SC2016 # expanded by the remote shell
FAIL_CMD='set -- $SSH_CONNECTION; if [ $(( ${3##*.} % 2 )) -eq 0 ]; then echo oops >&2; exit 4; fi; echo ok'
OK_CMD='uname -n'

read -r -a tools <<<"${TOOLS:-clush clush_setsid pssh salvo}"
for tool in "${tools[@]}"; do
	case $tool in
	clush | clush_setsid | pssh | salvo) ;;
	*) echo "bench-clush: unknown tool $tool in TOOLS (clush, clush_setsid, pssh, salvo)" >&2; exit 2 ;;
	esac
done

missing=()
for tool in ssh ssh-keygen clush parallel-ssh; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -x "$SSHD" ] || missing+=("$SSHD")
if [ "${#missing[@]}" -gt 0 ]; then
	echo "bench-clush: missing ${missing[*]}; install them with:" >&2
	echo "  apt-get install clustershell pssh openssh-server openssh-client" >&2
	exit 2
fi
if [ ! -x "$SALVO" ]; then
	echo "bench-clush: $SALVO is not an executable; run make build, or set SALVO=path/to/salvo" >&2
	exit 2
fi
if [ "$HOSTS" -lt 2 ] || [ "$HOSTS" -gt 254 ] || [ "$RUNS" -lt 1 ]; then
	echo "bench-clush: HOSTS must be 2..254 and RUNS at least 1" >&2
	exit 2
fi
for addr in "127.0.0.1:$SSH_PORT" "127.0.0.$HOSTS:$SSH_PORT" "$API_ADDR"; do
	if (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null; then
		echo "bench-clush: $addr is in use; set SSH_PORT or API_ADDR" >&2
		exit 2
	fi
done

WORK=$(mktemp -d -t salvo-bench-clush.XXXXXX)
OUT_DIR=${OUT_DIR:-$(mktemp -d -t salvo-bench-clush-out.XXXXXX)}
mkdir -p "$OUT_DIR"
pids=()

# stop_pid PID: SIGTERM, then SIGKILL after 10 s, and reap it.
stop_pid() {
	kill -TERM "$1" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	for pid in "${pids[@]}"; do stop_pid "$pid"; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

me=$(id -un)
hosts=$(seq -f '127.0.0.%g' 1 "$HOSTS")

# --- sshd: host key, client key, config, known_hosts -----------------------
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$WORK/ssh_host_ed25519_key"
ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$WORK/id_ed25519"
cp "$WORK/id_ed25519.pub" "$WORK/authorized_keys"
hostkey=$(cut -d' ' -f1,2 "$WORK/ssh_host_ed25519_key.pub")
for h in $hosts; do echo "[$h]:$SSH_PORT $hostkey"; done >"$WORK/known_hosts"
for h in $hosts; do echo "$h:$SSH_PORT"; done >"$WORK/targets.txt"
# sshd run as root needs its privilege separation directory (as
# internal/testutil/sshd.go does); as another user it is not used.
if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd; fi

common_conf() {
	cat <<CONF
Port $SSH_PORT
HostKey $WORK/ssh_host_ed25519_key
PidFile none
AuthorizedKeysFile $WORK/authorized_keys
StrictModes no
UsePAM no
MaxStartups 200
MaxSessions 100
LoginGraceTime 30
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers $me@127.0.0.0/8
PermitUserRC no
PermitUserEnvironment no
SetEnv HOME=$WORK
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel INFO
CONF
	# sshd 9.8 and later penalise sources with failed logins; every client here is 127.0.0.1.
	local v
	v=$("$SSHD" -V 2>&1 | sed -n 's/.*OpenSSH_\([0-9]*\)\.\([0-9]*\).*/\1 \2/p' | head -n1)
	if [ -n "$v" ] && awk -v v="$v" 'BEGIN { split(v, a, " "); exit !(a[1] > 9 || (a[1] == 9 && a[2] >= 8)) }'; then
		echo "PerSourcePenalties no"
	fi
}

nsshd=$(((HOSTS + PER_SSHD - 1) / PER_SSHD))
sshd_pids=()
for n in $(seq 1 "$nsshd"); do
	{
		common_conf
		for i in $(seq $(((n - 1) * PER_SSHD + 1)) $((n * PER_SSHD > HOSTS ? HOSTS : n * PER_SSHD))); do
			echo "ListenAddress 127.0.0.$i"
		done
	} >"$WORK/sshd_config.$n"
	"$SSHD" -D -e -f "$WORK/sshd_config.$n" 2>"$WORK/sshd.$n.log" &
	pids+=($!)
	sshd_pids+=($!)
done

echo "== starting salvo server on $API_ADDR (data in $WORK/data)" >&2
"$SALVO" server --http-addr "$API_ADDR" --data-dir "$WORK/data" --log-level warn 2>"$WORK/server.log" &
server_pid=$!
pids+=($!)

ready=0
for _ in $(seq 1 200); do
	ready=1
	for h in $hosts; do
		(exec 3<>"/dev/tcp/$h/$SSH_PORT") 2>/dev/null || { ready=0; break; }
	done
	(exec 3<>"/dev/tcp/${API_ADDR%:*}/${API_ADDR##*:}") 2>/dev/null || ready=0
	[ "$ready" = 1 ] && break
	for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || break 2; done
	sleep 0.1
done
if [ "$ready" != 1 ]; then
	echo "bench-clush: sshd or salvo server exited or did not listen within 20 s" >&2
	tail -n 5 "$WORK"/sshd.*.log "$WORK/server.log" >&2
	exit 1
fi
echo "== $nsshd sshd processes on 127.0.0.[1-$HOSTS]:$SSH_PORT ($("$SSHD" -V 2>&1 | head -n1)), user $me" >&2

# --- the three tools --------------------------------------------------------
ssh_opts="-F /dev/null -p $SSH_PORT -i $WORK/id_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes \
-o StrictHostKeyChecking=yes -o UserKnownHostsFile=$WORK/known_hosts -o GlobalKnownHostsFile=/dev/null \
-o ConnectTimeout=10 -o LogLevel=ERROR${SSH_EXTRA:+ $SSH_EXTRA}"

# run_TOOL CMD: runs CMD on every host, output on stdout and stderr.
run_clush() {
	clush -f "$HOSTS" -w "127.0.0.[1-$HOSTS]" -l "$me" -o "$ssh_opts" -b -S -u 60 "$1"
}
# clush as above with each ssh client in a session of its own, as pssh starts
# them: with the kernel's autogroup scheduling (sched_autogroup_enabled) the
# CPU is shared between sessions first, and clush's 50 clients, all in its
# session, get one session's share on a busy machine.
run_clush_setsid() {
	clush -O ssh_path="setsid ssh" -f "$HOSTS" -w "127.0.0.[1-$HOSTS]" -l "$me" -o "$ssh_opts" -b -S -u 60 "$1"
}
run_pssh() {
	# pssh's -x is split like a shell line; the port comes from the host lines.
	parallel-ssh -p "$HOSTS" -h "$WORK/targets.txt" -l "$me" -x "${ssh_opts/-p $SSH_PORT /}" -t 60 -i "$1"
}
run_salvo() {
	# salvo's --command is a template ($HOST, $PORT, …): $$ is a literal $.
	"$SALVO" run --server "http://$API_ADDR" --targets-file "$WORK/targets.txt" --user "$me" \
		--identity "$WORK/id_ed25519" --known-hosts "$WORK/known_hosts" --host-key-policy strict \
		--concurrency "$HOSTS" --connect-timeout 10s --timeout 60s --no-progress --command "${1//\$/\$\$}"
}

declare -A times rcs cpus sshcpus
TICK=$(getconf CLK_TCK)

# proc_cpu PID FIELDS: CPU seconds of PID from /proc/PID/stat, "self" (utime
# + stime) or "children" (cutime + cstime: the children it has reaped).
proc_cpu() {
	sed 's/.*) //' "/proc/$1/stat" | awk -v w="$2" -v t="$TICK" '{ printf "%.2f", (w == "self" ? $12 + $13 : $14 + $15) / t }'
}
# sshd_cpu: CPU seconds of every sshd connection so far (the listeners reap
# them); it first waits, at most 5 s, until the listeners have no child left.
sshd_cpu() {
	local total=0 pid
	for _ in $(seq 1 50); do
		pgrep -P "$(IFS=,; echo "${sshd_pids[*]}")" >/dev/null || break
		sleep 0.1
	done
	for pid in "${sshd_pids[@]}"; do total=$(awk -v a="$total" -v b="$(proc_cpu "$pid" children)" 'BEGIN { print a + b }'); done
	echo "$total"
}

# measure TOOL NAME CMD ROUND: one timed run (round 0 is the warm-up); the
# first round's output is kept. Wall and CPU times come from bash's time: the
# tool with every process it started (the ssh clients); salvo's CPU adds the
# server's.
measure() {
	local tool=$1 name=$2 cmd=$3 round=$4 rc=0 real user sys srv0 srv1 ssh0 ssh1
	ssh0=$(sshd_cpu)
	srv0=$(proc_cpu "$server_pid" self)
	TIMEFORMAT='%R %U %S'
	{ time "run_$tool" "$cmd" >"$WORK/out" 2>"$WORK/err" || rc=$?; } 2>"$WORK/time"
	srv1=$(proc_cpu "$server_pid" self)
	ssh1=$(sshd_cpu)
	read -r real user sys <"$WORK/time"
	if [ "$round" = 1 ]; then
		cp "$WORK/out" "$OUT_DIR/$tool-$name.stdout"
		cp "$WORK/err" "$OUT_DIR/$tool-$name.stderr"
	fi
	[ "$round" = 0 ] && return 0
	[ "$tool" = salvo ] || srv1=$srv0
	times[$tool.$name]+="$real "
	rcs[$tool.$name]+="$rc "
	cpus[$tool.$name]+="$(awk -v u="$user" -v s="$sys" -v a="$srv0" -v b="$srv1" 'BEGIN { printf "%.2f", u + s + b - a }') "
	sshcpus[$tool.$name]+="$(awk -v a="$ssh0" -v b="$ssh1" 'BEGIN { printf "%.2f", b - a }') "
	if [ "$tool" = salvo ]; then
		# The job's own time on the server (start to gathered), from the summary line.
		times[job.$name]+="$(sed -n '1s/.*elapsed \([0-9.]*\)\(m\{0,1\}s\).*/\1 \2/p' "$WORK/out" |
			awk '{ printf "%.3f", $2 == "ms" ? $1 / 1000 : $1 }') "
	fi
}

load0=$(cut -d' ' -f1 /proc/loadavg)
for round in $(seq $((WARMUP > 0 ? 0 : 1)) "$RUNS"); do
	[ "$round" = 0 ] && echo "== warm-up round (not measured)" >&2 || echo "== round $round of $RUNS" >&2
	for tool in "${tools[@]}"; do
		measure "$tool" ok "$OK_CMD" "$round"
		measure "$tool" fail "$FAIL_CMD" "$round"
	done
done

# stats "t1 t2 …" [all]: the median, or "median | min | max", in seconds.
stats() {
	tr ' ' '\n' <<<"$1" | grep . | sort -g | awk -v all="${2:-}" '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		if (all) printf "%.2f s | %.2f s | %.2f s", m, v[1], v[NR]; else printf "%.2f s", m }'
}

echo
echo "\`bash scripts/bench-clush.sh\` — $HOSTS hosts (127.0.0.[1-$HOSTS]:$SSH_PORT, $("$SSHD" -V 2>&1 | head -n1 | cut -d, -f1)),"
echo "fanout $HOSTS, $RUNS round$([ "$RUNS" = 1 ] || echo s) (after $WARMUP warm-up), $(nproc) cores, load average $load0 at the start and"
echo "$(cut -d' ' -f1 /proc/loadavg) at the end, $(date -u +%Y-%m-%d)${SSH_EXTRA:+, ssh clients with $SSH_EXTRA}."
echo
echo "| tool | command | wall median | min | max | CPU of the tool | CPU of sshd | exit status |"
echo "|---|---|---:|---:|---:|---:|---:|---|"
declare -A labels=([ok]="\`$OK_CMD\`" [fail]="fails on even hosts (exit 4)")
for name in ok fail; do
	for tool in "${tools[@]}"; do
		case $tool in
		clush) label="clush $(clush --version 2>&1 | awk '{ print $2 }')" ;;
		clush_setsid) label="clush, \`-O ssh_path='setsid ssh'\`" ;;
		pssh) label="parallel-ssh $(parallel-ssh --version 2>&1)" ;;
		salvo) label="salvo run (submit to summary)" ;;
		esac
		echo "| $label | ${labels[$name]} | $(stats "${times[$tool.$name]}" all) | $(stats "${cpus[$tool.$name]}") | $(stats "${sshcpus[$tool.$name]}") | $(tr ' ' '\n' <<<"${rcs[$tool.$name]}" | grep . | sort -u | paste -sd, -) |"
	done
	if [ -n "$(tr -d ' ' <<<"${times[job.$name]:-}")" ]; then
		echo "| salvo job on the server (its \`elapsed\`) | ${labels[$name]} | $(stats "${times[job.$name]}" all) | | | |"
	fi
done

echo
echo "CPU of the tool: user + system time of the tool and every process it started (the ssh clients);"
echo "salvo's is \`salvo run\`'s and the server's. CPU of sshd: every connection's sshd processes. Medians."
# sshd refusals (MaxStartups) or errors would make the times meaningless.
refused=$(cat "$WORK"/sshd.*.log | grep -ci -e 'drop connection' -e 'MaxStartups' || true)
echo
expected=$(((RUNS + (WARMUP > 0 ? 1 : 0)) * 2 * ${#tools[@]} * HOSTS))
echo "sshd: $(cat "$WORK"/sshd.*.log | grep -c 'Accepted publickey' || true) logins accepted of $expected, $refused connections dropped (MaxStartups)."

sample() {
	echo
	echo "$1 on the failing command (first round; stdout, then stderr):"
	echo
	echo '```'
	# What a terminal shows: a progress line rewritten with \r keeps its last state.
	shown "$OUT_DIR/$2-fail.stdout" "$3"
	shown "$OUT_DIR/$2-fail.stderr" 4
	echo '```'
}
# shown FILE N: the first N-2 lines and the last two of FILE, as a terminal shows them.
shown() {
	local n
	n=$(wc -l <"$1")
	if [ "$n" -le "$2" ]; then
		sed 's/.*\r//' "$1"
	else
		head -n $(($2 - 2)) "$1" | sed 's/.*\r//'
		echo "… ($((n - $2)) more lines)"
		tail -n 2 "$1" | sed 's/.*\r//'
	fi
}
for tool in "${tools[@]}"; do
	case $tool in
	clush) sample "\`clush -b\`" clush 20 ;;
	pssh) sample "\`parallel-ssh -i\`" pssh 12 ;;
	salvo) sample "\`salvo run\`" salvo 20 ;;
	esac
done
echo
echo "Every output of the first round is in $OUT_DIR." >&2
