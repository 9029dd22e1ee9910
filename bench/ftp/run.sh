#!/usr/bin/env bash
# bench/ftp/run.sh: wharf's FTP front end against baselines it starts
# itself, all on 127.0.0.1, in interleaved rounds (see bench/README.md):
#
#   1. S3: 1 GiB FTP upload and download through wharf over versitygw, and
#      the same with a direct S3 client (aws-sdk-go-v2, 8 MiB parts, 4 in
#      flight; one streaming GET) against the same versitygw.
#   2. Local disk: wharf's local-disk backend against Debian's pure-ftpd
#      serving the same disk, 1 GiB up and down.
#   3. 50 clients at once each downloading a 16 MiB object from S3 through
#      wharf: all verified, aggregate throughput, wharf's peak RSS.
#   4. wharf's peak RSS (VmHWM of a fresh process) during the 1 GiB upload.
#   5. 1,000 files of 4 KiB uploaded with lftp mirror -R --parallel=8.
#
# Every transfer is verified with sha256. Environment: SIZE_MB (1024),
# ROUNDS (3), CLIENTS (50), MANY_MB (16), SMALL_FILES (1000), WHARF_BIN (a
# wharf binary to measure instead of building one), PARTS (which of
# "s3 local many small" to run; all), VERSITYGW_BIN, KEEP=1
# (keep the work directory: logs and data), BENCH_LOCK
# (/tmp/wharf-bench.lock: the lock every benchmark here takes).
#
# Needs Go. pure-ftpd (and openssl for its password) and lftp are
# installed with apt-get when missing and running as root; otherwise the
# parts that need them are skipped with a note.
set -euo pipefail

SIZE_MB=${SIZE_MB:-1024}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
MANY_MB=${MANY_MB:-16}
SMALL_FILES=${SMALL_FILES:-1000}
PARTS=${PARTS:-s3 local many small}
PASS=bench-pass-$RANDOM$RANDOM

root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wharf-bench-ftp.XXXXXX")
chmod 755 "$tmp" # pure-ftpd's unprivileged user works below it
bin=$tmp/bin logs=$tmp/logs
mkdir -p "$bin" "$logs"

declare -A procs=() # pid -> name of every process we started
cleanup() {
	local pid
	for pid in "${!procs[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${!procs[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ ${KEEP:-} == 1 ]]; then
		echo "kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*" >&2; }
die() {
	say "bench: $*"
	local f
	for f in $(ls -t "$logs"/* 2>/dev/null | head -n 2); do
		say "--- tail of $f"
		tail -n 20 "$f" >&2
	done
	exit 1
}

# ---- prerequisites --------------------------------------------------------
command -v go >/dev/null || die "needs Go (https://go.dev/dl/)"
need=()
for c in pure-ftpd openssl lftp; do
	command -v "$c" >/dev/null || need+=("$c")
done
if ((${#need[@]})); then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		say "installing ${need[*]}"
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	else
		say "note: missing ${need[*]}; install them (apt-get install ${need[*]}) for the whole run"
	fi
fi
have_pure=1 have_lftp=1
command -v lftp >/dev/null || have_lftp=0
if ! command -v pure-ftpd >/dev/null || ! command -v openssl >/dev/null; then
	have_pure=0
	say "note: no pure-ftpd/openssl: the local-disk comparison is skipped"
elif [[ $(id -u) != 0 ]]; then
	have_pure=0
	say "note: pure-ftpd needs root (chroot, user switch): the local-disk comparison is skipped"
fi
((have_lftp)) || say "note: no lftp: the small-files test is skipped"

# Benchmarks of this repository take this lock so that they never share
# the machine (bench/sftp/run.sh takes it too).
if command -v flock >/dev/null; then
	exec 9>"${BENCH_LOCK:-/tmp/wharf-bench.lock}"
	flock -n 9 || { say "waiting for another benchmark (lock ${BENCH_LOCK:-/tmp/wharf-bench.lock})"; flock 9; }
fi

# ---- build ------------------------------------------------------------------
say "building wharf and the bench clients"
if [[ -n ${WHARF_BIN:-} ]]; then
	cp "$WHARF_BIN" "$bin/wharf"
else
	(cd "$root" && go build -o "$bin/wharf" .) || die "go build of wharf failed"
fi
unset WHARF_BIN # wharf takes every WHARF_ variable for configuration
(cd "$root" && go build -o "$bin/s3direct" ./bench/ftp/s3direct &&
	go build -o "$bin/ftpload" ./bench/ftp/ftpload) || die "go build of the bench clients failed"

# versitygw: the binary the storage tests cache (storagetest.S3Binary).
vgw_version=$(sed -n 's/^[[:space:]]*VersitygwVersion = "\(.*\)"/\1/p' "$root/storage/storagetest/s3server.go")
vgw=${VERSITYGW_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/wharf-test/versitygw-$vgw_version-$(go env GOVERSION)}
if [[ ! -x $vgw ]]; then
	say "building versitygw $vgw_version into $vgw (once per machine and Go version)"
	mkdir -p "$(dirname "$vgw")"
	(cd "$root/tools/versitygw" && GOWORK=off go build -o "$vgw.tmp-$$" github.com/versity/versitygw/cmd/versitygw) || die "building versitygw failed"
	mv "$vgw.tmp-$$" "$vgw"
fi

# ---- helpers ----------------------------------------------------------------
port_used() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		port_used "$p" || { echo "$p"; return; }
	done
}
passive_range() { # FIRST-LAST: 200 ports, a sample of which is free
	local lo
	while :; do
		lo=$((40000 + (RANDOM % 100) * 200))
		port_used "$lo" || port_used $((lo + 100)) || port_used $((lo + 199)) || { echo "$lo-$((lo + 199))"; return; }
	done
}
wait_port() { # wait_port PORT PID
	local i
	for i in $(seq 1 300); do
		port_used "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
start() { # start NAME CMD...: runs CMD in the background, logging to $logs/NAME.log
	local name=$1
	shift
	"$@" >"$logs/$name.log" 2>&1 &
	procs[$!]=$name
	started=$!
}
stop() { # stop PID
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	unset "procs[$1]"
}
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
hwm_kib() { # VmHWM of PID in KiB
	local v
	v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
	[[ -n $v ]] || die "no VmHWM for process $1 (gone?)"
	echo "$v"
}
# cpu_ticks PID: CPU time of PID and of its children it has waited for.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
settle() { sync; } # the last run's dirty pages are not the next one's problem
# busy: the share of all CPUs in use over 2 s (run while the harness is
# idle, it is what other processes take from the measurements).
busy() {
	local a b
	a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)
	sleep 2
	b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f%%", 100 * (y[1] - x[1]) / (y[2] - x[2]) }'
}
declare -A res=() # key -> space-separated values, one per round
add() { res[$1]+="${res[$1]:+ }$2"; }
median() { tr ' ' '\n' <<<"$1" | { grep . || true; } | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
maxof() { tr ' ' '\n' <<<"$1" | { grep . || true; } | sort -g | tail -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }

busy_start=$(busy)
size=$((SIZE_MB << 20))
say "making test data: ${SIZE_MB} MiB, ${MANY_MB} MiB, ${SMALL_FILES} x 4 KiB"
head -c "$size" /dev/urandom >"$tmp/src.bin"
head -c $((MANY_MB << 20)) /dev/urandom >"$tmp/many.bin"
src_sha=$(sha "$tmp/src.bin") many_sha=$(sha "$tmp/many.bin")
mkdir -p "$tmp/small"
for i in $(seq 1 "$SMALL_FILES"); do
	d=$tmp/small/d$((i % 10))
	mkdir -p "$d"
	head -c 4096 /dev/urandom >"$d/f$i.bin"
done
# manifest DIR: the files below DIR and their sha256, without the local-disk
# backend's sidecars (NAME.attrs) and directory markers (NAME__0x2f__).
manifest() { (cd "$1" && find . -type f ! -name '*.attrs' ! -name '*__0x2f__' -print0 | sort -z | xargs -0 sha256sum); }
small_manifest=$(manifest "$tmp/small")

# ---- versitygw ------------------------------------------------------------------
export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=bench-secret-$RANDOM$RANDOM
vgw_port=$(free_port)
mkdir -p "$tmp/s3"
start versitygw env -i PATH="$PATH" HOME="$HOME" TMPDIR="$tmp" "$vgw" \
	--access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" --region us-east-1 \
	--port "127.0.0.1:$vgw_port" --quiet posix "$tmp/s3"
vgw_pid=$started
wait_port "$vgw_port" "$vgw_pid" || die "versitygw did not start"
export S3_ENDPOINT=http://127.0.0.1:$vgw_port S3_BUCKET=bench
for i in $(seq 1 50); do "$bin/s3direct" mb 2>/dev/null && break; sleep 0.1; done
[[ -d $tmp/s3/bench ]] || die "could not create the bucket"
s3obj=$tmp/s3/bench # versitygw's posix backend keeps object KEY at $s3obj/KEY

# ---- wharf ----------------------------------------------------------------------
# Backends: s3 as the brief and README configure it; s3nv the same bucket
# without the SDK's CRC validation of whole-object GETs; local on disk.
mkdir -p "$tmp/disk/wharf" "$tmp/disk/pure"
wharf_port=$(free_port)
s3url="s3://bench?endpoint=$S3_ENDPOINT&region=us-east-1&use_path_style=true&disable_https=true&request_checksum_calculation=when_required"
export WHARF_DATA_DIR=$tmp/wharf-data \
	WHARF_FTP_LISTEN=127.0.0.1:$wharf_port \
	WHARF_FTP_PASSIVE_PORTS=$(passive_range) \
	WHARF_SFTP_LISTEN= WHARF_ADMIN_LISTEN= \
	WHARF_LIMITS_MAX_SESSIONS_PER_ADDRESS=0 \
	WHARF_SHUTDOWN_GRACE=2s \
	WHARF_BACKENDS_S3_URL="$s3url" \
	WHARF_BACKENDS_S3NV_URL="$s3url&response_checksum_validation=when_required" \
	WHARF_BACKENDS_LOCAL_URL="file://$tmp/disk/wharf"
for u in s3u:s3 s3nvu:s3nv localu:local; do
	printf '%s\n' "$PASS" | "$bin/wharf" user add "${u%%:*}" --password-stdin --home "${u#*:}:" >>"$logs/useradd.log" 2>&1 ||
		die "wharf user add ${u%%:*}"
done
export FTP_PASS=$PASS

wharf_pid= wharf_n=0
fresh_wharf() { # (re)starts wharf: every measurement gets a fresh process
	[[ -z $wharf_pid ]] || stop "$wharf_pid"
	wharf_n=$((wharf_n + 1))
	start "wharf-$wharf_n" "$bin/wharf" serve
	wharf_pid=$started
	wait_port "$wharf_port" "$wharf_pid" || die "wharf did not start"
}
wftp() { "$bin/ftpload" -addr "127.0.0.1:$wharf_port" -user "$@"; }

# ---- pure-ftpd ------------------------------------------------------------------
if ((have_pure)); then
	pure_port=$(free_port)
	mkdir -p "$tmp/pure-etc"
	chown 65534:65534 "$tmp/disk/pure"
	# A virtual user with a SHA-512 crypt password: pure-pw's default
	# argon2id costs seconds per login.
	printf 'bench:%s:65534:65534::%s/./::::::::::::\n' "$(openssl passwd -6 "$PASS")" "$tmp/disk/pure" >"$tmp/pure-etc/passwd"
	pure-pw mkdb "$tmp/pure-etc/pure.pdb" -f "$tmp/pure-etc/passwd" || die "pure-pw mkdb"
	start pure-ftpd pure-ftpd -S "127.0.0.1,$pure_port" -p "$(passive_range | tr - :)" \
		-l "puredb:$tmp/pure-etc/pure.pdb" -E -H -A -u 1 -c 200 -C 200 -Y 0 -f none
	pure_pid=$started
	wait_port "$pure_port" "$pure_pid" || die "pure-ftpd did not start"
fi
pftp() { "$bin/ftpload" -addr "127.0.0.1:$pure_port" -user bench "$@"; }
pure_idle() { # waits until pure-ftpd has reaped its session processes
	local i
	for i in $(seq 1 100); do
		pgrep -P "$pure_pid" >/dev/null || return 0
		sleep 0.02
	done
}

# ---- measurements ----------------------------------------------------------------
# Each run_* does one transfer, checks it, and adds MiB/s (and the server
# side's CPU seconds, and wharf's peak RSS) to res.
check_stored() { # check_stored FILE: the file a server (or versitygw) stored
	[[ $(sha "$1") == "$src_sha" ]] || die "stored $1 does not match the source"
	rm -f "$1" "$1.attrs"
}
check_got() { [[ $(field sha256 "$1") == "$src_sha" ]] || die "download did not match: $1"; }
cpu_secs() { awk -v t="$1" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }'; }

# wharf_xfer KEY USER put|get [RSSKEY]: one transfer through a fresh wharf
wharf_xfer() {
	local key=$1 user=$2 op=$3 rsskey=${4:-} out c0 v0 h
	fresh_wharf
	c0=$(cpu_ticks "$wharf_pid") v0=$(cpu_ticks "$vgw_pid")
	if [[ $op == put ]]; then
		out=$(wftp "$user" put "$tmp/src.bin" up-wharf.bin) || die "$key: $out"
	else
		out=$(wftp "$user" get dl.bin) || die "$key: $out"
		check_got "$out"
	fi
	add "$key" "$(field mibps "$out")"
	local wt=$(($(cpu_ticks "$wharf_pid") - c0)) vt=$(($(cpu_ticks "$vgw_pid") - v0))
	case $user in
	s3*)
		add "cpu_$key" "$(cpu_secs $((wt + vt)))"
		add "wcpu_$key" "$(cpu_secs "$wt")"
		add "vcpu_$key" "$(cpu_secs "$vt")"
		;;
	*) add "cpu_$key" "$(cpu_secs "$wt")" ;;
	esac
	if [[ -n $rsskey ]]; then
		h=$(hwm_kib "$wharf_pid")
		add "$rsskey" "$h"
	fi
	if [[ $op == put ]]; then
		case $user in
		s3*) check_stored "$s3obj/up-wharf.bin" ;;
		*) check_stored "$tmp/disk/wharf/up-wharf.bin" ;;
		esac
	fi
}
# direct_xfer KEY put|get [VALIDATION]: the direct S3 client
direct_xfer() {
	local key=$1 op=$2 v=${3:-when_supported} out v0
	v0=$(cpu_ticks "$vgw_pid")
	if [[ $op == put ]]; then
		out=$("$bin/s3direct" put "$tmp/src.bin" up-direct.bin) || die "$key: $out"
	else
		out=$("$bin/s3direct" -response-checksum-validation "$v" get dl.bin) || die "$key: $out"
		check_got "$out"
	fi
	add "$key" "$(field mibps "$out")"
	add "cpu_$key" "$(cpu_secs $(($(cpu_ticks "$vgw_pid") - v0)))"
	[[ $op == get ]] || check_stored "$s3obj/up-direct.bin"
}
# pure_xfer KEY put|get: pure-ftpd
pure_xfer() {
	local key=$1 op=$2 out c0
	c0=$(cpu_ticks "$pure_pid")
	if [[ $op == put ]]; then
		out=$(pftp put "$tmp/src.bin" up-pure.bin) || die "$key: $out"
	else
		out=$(pftp get dl.bin) || die "$key: $out"
		check_got "$out"
	fi
	pure_idle
	add "$key" "$(field mibps "$out")"
	add "cpu_$key" "$(cpu_secs $(($(cpu_ticks "$pure_pid") - c0)))"
	[[ $op == get ]] || check_stored "$tmp/disk/pure/up-pure.bin"
}

run_s3_up_wharf() { wharf_xfer s3_up_wharf s3u put rss_up_s3; }
run_s3_up_direct() { direct_xfer s3_up_direct put; }
run_s3_down_wharf() { wharf_xfer s3_down_wharf s3u get rss_down_s3; }
run_s3_down_direct() { direct_xfer s3_down_direct get; }
run_s3_down_wharf_nv() { wharf_xfer s3_down_wharf_nv s3nvu get; }
run_s3_down_direct_nv() { direct_xfer s3_down_direct_nv get when_required; }
run_local_up_wharf() { wharf_xfer local_up_wharf localu put rss_up_local; }
run_local_up_pure() { pure_xfer local_up_pure put; }
run_local_down_wharf() { wharf_xfer local_down_wharf localu get; }
run_local_down_pure() { pure_xfer local_down_pure get; }
run_many() {
	fresh_wharf
	local out
	out=$(wftp s3u -n "$CLIENTS" -want "$many_sha" -pid "$wharf_pid" many many.bin) || die "$CLIENTS clients: $out"
	[[ $(field ok "$out") == "$CLIENTS" ]] || die "$CLIENTS clients: not all verified: $out"
	add many_mibps "$(field mibps "$out")"
	add many_login_rss "$(field login_hwm_kib "$out")"
	add many_xfer_rss "$(field xfer_hwm_kib "$out")"
}
run_small() { # run_small KEY PORT USER STOREDDIR: lftp mirror -R into /small-rN
	local key=$1 port=$2 user=$3 dir=$4 t0 t1
	local target=small-r$round
	t0=$(date +%s.%N)
	lftp -u "$user,$PASS" -p "$port" -e "set cmd:fail-exit yes; set ftp:ssl-allow no; set net:max-retries 2; set net:timeout 30; mirror -R --parallel=8 $tmp/small /$target; quit" 127.0.0.1 >"$logs/lftp-$key-$round.log" 2>&1 ||
		die "lftp mirror -R to $key (see $logs/lftp-$key-$round.log)"
	t1=$(date +%s.%N)
	[[ $(manifest "$dir/$target") == "$small_manifest" ]] || die "$key: the mirrored files do not match"
	add "small_$key" "$(awk -v n="$SMALL_FILES" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')"
	rm -rf "${dir:?}/$target" "$dir/$target"__0x2f__*
}

# Untimed set-up: the download sources, through each server.
say "set-up: download objects"
fresh_wharf
"$bin/s3direct" put "$tmp/src.bin" dl.bin >/dev/null || die "direct S3 upload of dl.bin"
"$bin/s3direct" put "$tmp/many.bin" many.bin >/dev/null || die "direct S3 upload of many.bin"
wftp localu put "$tmp/src.bin" dl.bin >/dev/null || die "wharf local upload of dl.bin"
if ((have_pure)); then pftp put "$tmp/src.bin" dl.bin >/dev/null || die "pure-ftpd upload of dl.bin"; fi
settle

# warm_s3_up: an untimed upload of the same size through the direct
# client, so that both measured uploads follow an upload. Without it the
# first upload of a round, after the downloads, was the slower in every
# round (versitygw then spent up to 60 % more CPU on it), and with an odd
# ROUNDS that favoured whichever target went first less often.
warm_s3_up() {
	"$bin/s3direct" put "$tmp/src.bin" warm.bin >/dev/null || die "warm-up upload"
	settle
}

# interleave F...: runs the measurements in an order rotated every round.
interleave() {
	local fs=("$@") n=$# i
	for ((i = 0; i < n; i++)); do
		"${fs[(i + round - 1) % n]}"
		settle
	done
}
want() { [[ " $PARTS " == *" $1 "* ]]; }
for round in $(seq 1 "$ROUNDS"); do
	say "round $round/$ROUNDS"
	if want s3; then
		warm_s3_up
		interleave run_s3_up_wharf run_s3_up_direct
		interleave run_s3_down_wharf run_s3_down_direct run_s3_down_wharf_nv run_s3_down_direct_nv
	fi
	if want local && ((have_pure)); then
		interleave run_local_up_wharf run_local_up_pure
		interleave run_local_down_wharf run_local_down_pure
	elif want local; then
		run_local_up_wharf
		run_local_down_wharf
	fi
	if want many; then
		run_many
		settle
	fi
	if want small && ((have_lftp)); then
		fresh_wharf
		run_small wharf_s3 "$wharf_port" s3u "$s3obj"
		run_small wharf_local "$wharf_port" localu "$tmp/disk/wharf"
		if ((have_pure)); then run_small pure "$pure_port" bench "$tmp/disk/pure"; fi
		settle
	fi
done

# ---- report -------------------------------------------------------------------------
mib() { awk -v k="$1" 'BEGIN { if (k == "" || k == "-") print "-"; else printf "%.1f", k / 1024 }'; }
verdict() { # verdict VALUE OP LIMIT
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { if (v == "-") print "n/a"; else if ((op == ">=" && v + 0 >= l + 0) || (op == "<=" && v + 0 <= l + 0)) print "ok"; else print "MISSED" }'
}
m() { # m KEY [FORMAT]: the median of KEY's values
	local v
	v=$(median "${res[$1]:-}")
	if [[ $v == - ]]; then echo -; else printf "${2:-%.1f}\n" "$v"; fi
}
row() { printf '%-46s %9s %9s %6s  %-7s %-6s  %s\n' "$@"; }
cmp_row() { # cmp_row LABEL WHARFKEY BASEKEY [TARGET]
	local w b r t=${4:-}
	w=$(m "$2") b=$(m "$3")
	r=$(ratio "$w" "$b")
	row "$1" "$w" "$b" "$r" "${t:+>= $t}" "$([[ -n $t ]] && verdict "$r" ">=" "$t")" "$(m "cpu_$2" %.2f) / $(m "cpu_$3" %.2f)"
}
base=pure-ftpd
((have_pure)) || base="(none)"
rss_many=$(maxof "${res[many_login_rss]:-} ${res[many_xfer_rss]:-}")
rss_up=$(mib "$(maxof "${res[rss_up_s3]:-}")")
echo
echo "wharf FTP benchmark: SIZE_MB=$SIZE_MB ROUNDS=$ROUNDS CLIENTS=$CLIENTS MANY_MB=$MANY_MB SMALL_FILES=$SMALL_FILES"
echo "$(nproc) CPUs, $(go env GOVERSION), Linux $(uname -r); medians of $ROUNDS interleaved rounds; every transfer verified (sha256)"
echo "CPU busy with other processes while the harness was idle: $busy_start before, $(busy) after"
echo
row "MiB/s unless stated" "wharf" "baseline" "ratio" "target" "result" "server CPU s: wharf / baseline"
echo "1. S3 (versitygw), ${SIZE_MB} MiB, vs direct S3 client                      (wharf+versitygw / versitygw)"
cmp_row "   upload" s3_up_wharf s3_up_direct 0.9
cmp_row "   download" s3_down_wharf s3_down_direct 0.9
cmp_row "   download, neither validating CRC64 (a)" s3_down_wharf_nv s3_down_direct_nv
row "   CPU s, upload: wharf / versitygw serving it" "$(m wcpu_s3_up_wharf %.2f)" "$(m vcpu_s3_up_wharf %.2f)" "" "" "" "versitygw serving the direct client: $(m cpu_s3_up_direct %.2f)"
echo "2. local disk, ${SIZE_MB} MiB, vs $base"
cmp_row "   upload" local_up_wharf local_up_pure 0.9
cmp_row "   download" local_down_wharf local_down_pure 0.9
echo "3. $CLIENTS clients x ${MANY_MB} MiB downloads from S3, at once"
row "   aggregate MiB/s, all verified" "$(m many_mibps)" "" "" "" "" ""
row "   wharf peak RSS, MiB (max of rounds)" "$(mib "$rss_many")" "" "" "<= 256" "$(verdict "$(mib "$rss_many")" "<=" 256)" ""
row "     peak while logging in / downloading" "$(mib "$(maxof "${res[many_login_rss]:-}")")" "$(mib "$(maxof "${res[many_xfer_rss]:-}")")" "" "" "" ""
echo "4. wharf peak RSS (fresh process), MiB, max of rounds"
row "   during the ${SIZE_MB} MiB S3 upload" "$rss_up" "" "" "<= 96" "$(verdict "$rss_up" "<=" 96)" ""
row "   local-disk upload / S3 download" "$(mib "$(maxof "${res[rss_up_local]:-}")")" "$(mib "$(maxof "${res[rss_down_s3]:-}")")" "" "" "" ""
if ((have_lftp)); then
	echo "5. ${SMALL_FILES} files of 4 KiB, lftp mirror -R --parallel=8, files/s"
	row "   wharf on S3 / wharf on local disk" "$(m small_wharf_s3)" "$(m small_wharf_local)" "" "" "" ""
	if ((have_pure)); then row "   pure-ftpd on local disk" "" "$(m small_pure)" "" "" "" ""; fi
fi
echo "(a) response_checksum_validation=when_required in wharf's URL and the direct client"
echo
echo "per round (MiB/s; cpu_* in CPU seconds; rss_* in KiB; small_* in files/s):"
for k in $(printf '%s\n' "${!res[@]}" | sort); do
	printf '  %-24s %s\n' "$k" "${res[$k]}"
done
