#!/usr/bin/env bash
# bench/sftp/run.sh: SFTP throughput of wharf against baselines started in
# the same run, on loopback (see bench/README.md, section "SFTP").
#
#   local disk: OpenSSH's sftp client uploading and downloading one file to
#               wharf (local-disk backend) and to OpenSSH's own sshd +
#               sftp-server serving a directory on the same disk, with the
#               client's default cipher and with each cipher in CIPHERS;
#   s3:         the same transfers to wharf over versitygw against a direct
#               S3 client (aws-sdk-go-v2, 8 MiB parts x 4) on the same
#               versitygw;
#   conc:       CONC_CLIENTS sftp clients at once, each downloading a
#               CONC_MB object from the S3 backend; wharf's peak RSS.
#
# Runs are interleaved (wharf, baseline, baseline, wharf, ...: the order
# alternates every round), every transferred file is checked with sha256,
# and the script prints medians and ratios. Everything it starts listens on
# 127.0.0.1 and is stopped on exit; its temporary directory is removed.
#
# Environment (defaults in brackets):
#   SIZE_MB [1024]        size of the transferred file, MiB
#   ROUNDS [3]            rounds per measurement
#   CIPHERS ["default aes128-gcm@openssh.com"]
#                         "default" is the client's own choice
#   PHASES ["local s3 conc"]
#   CONC_CLIENTS [50], CONC_MB [16]
#   DL_DIR [/dev/shm when it has room, else BENCH_DIR]  where downloads go
#                         (memory, so that neither side's rate is the disk's)
#   BENCH_DIR [$TMPDIR or /tmp]  where the temporary directory goes (the
#                         disk under test)
#   WHARF_BIN             a wharf binary to use instead of building one
#                         (for comparing builds)
#   VERSITYGW_BIN         a versitygw binary to use instead of the cached or
#                         freshly built one
#   BENCH_LOCK [/tmp/wharf-bench.lock]  benchmarks of this repository
#                         take this lock so that they never run at once
#   KEEP=1                keep the temporary directory (logs) on exit
#   STRICT=1              exit 3 when a target is missed
# Needs: go, OpenSSH client and server (sftp, ssh-keygen, sshd,
# sftp-server), sha256sum. As root on Debian/Ubuntu the missing OpenSSH
# packages are installed with apt-get.
set -euo pipefail

SIZE_MB=${SIZE_MB:-1024}
ROUNDS=${ROUNDS:-3}
CIPHERS=${CIPHERS:-"default aes128-gcm@openssh.com"}
PHASES=${PHASES:-"local s3 conc"}
CONC_CLIENTS=${CONC_CLIENTS:-50}
CONC_MB=${CONC_MB:-16}

# Targets from the SFTP issue.
T_LOCAL=0.85      # wharf / OpenSSH, both ways
T_S3_UP=0.80      # wharf SFTP upload / direct PUT
T_S3_DOWN=0.70    # wharf SFTP download / direct GET
T_RSS_UP=96       # MiB, wharf peak RSS during the big upload
T_RSS_CONC=256    # MiB, during the concurrent downloads

root=$(cd "$(dirname "$0")/../.." && pwd)
log() { printf '%s\n' "$*" >&2; }
die() { log "bench/sftp: $*"; exit 1; }
has() { [[ " $PHASES " == *" $1 "* ]]; }

# --- tools ---------------------------------------------------------------
find_sftp_server() {
	local p
	for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server \
		/usr/libexec/sftp-server /usr/lib/ssh/sftp-server; do
		[[ -x $p ]] && { echo "$p"; return; }
	done
}
SSHD=$(command -v sshd || true)
[[ -n $SSHD ]] || SSHD=/usr/sbin/sshd
if ! command -v sftp >/dev/null || ! command -v ssh-keygen >/dev/null || [[ ! -x $SSHD ]] ||
	[[ -z $(find_sftp_server) ]]; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "bench/sftp: installing openssh-server openssh-client"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			openssh-server openssh-client >/dev/null
		SSHD=/usr/sbin/sshd
	else
		die "needs OpenSSH's sftp, ssh-keygen, sshd and sftp-server: install openssh-client and openssh-server (apt-get install openssh-client openssh-server)"
	fi
fi
SFTP_SERVER=$(find_sftp_server)
for t in go sha256sum awk; do command -v $t >/dev/null || die "needs $t"; done

# --- one benchmark at a time -------------------------------------------------
if command -v flock >/dev/null; then
	exec 9>"${BENCH_LOCK:-/tmp/wharf-bench.lock}"
	flock -n 9 || { log "bench/sftp: waiting for another benchmark (lock ${BENCH_LOCK:-/tmp/wharf-bench.lock})"; flock 9; }
fi

# --- temporary directory and clean-up ------------------------------------
tmp=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/wharf-bench-sftp.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[[ -z ${dl_tmp:-} ]] || rm -rf "$dl_tmp"
	if [[ -n ${KEEP:-} ]]; then log "bench/sftp: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/bin" "$tmp/ossh" "$tmp/sshd"
# Downloads go to memory when it has room for two of them and the
# concurrent ones: the client writes them, and on a busy disk its writes,
# not the servers, would set the rates.
need_kb=$(((2 * SIZE_MB + CONC_CLIENTS * CONC_MB + 64) * 1024))
dl_dir=${DL_DIR:-}
if [[ -z $dl_dir && -d /dev/shm && -w /dev/shm ]] &&
	(($(df -Pk /dev/shm | awk 'NR == 2 { print $4 }') > need_kb)); then
	dl_dir=/dev/shm
fi
if [[ -n $dl_dir ]]; then
	dl=$(mktemp -d "$dl_dir/wharf-bench-dl.XXXXXX")
	dl_tmp=$dl
else
	dl=$tmp/dl
	mkdir -p "$dl"
fi

# background CMD... starts a server, logging to $tmp/NAME.log; sets $bgpid.
background() {
	local name=$1
	shift
	"$@" >"$tmp/$name.log" 2>&1 &
	bgpid=$!
	pids+=("$bgpid")
}

# --- build ----------------------------------------------------------------
log "bench/sftp: building wharf and the harness"
if [[ -n ${WHARF_BIN:-} ]]; then
	cp "$WHARF_BIN" "$tmp/bin/wharf"
else
	(cd "$root" && go build -o "$tmp/bin/wharf" .)
fi
unset WHARF_BIN # wharf takes every WHARF_ variable for configuration
(cd "$root" && go build -o "$tmp/bin/harness" ./bench/sftp/harness)
H=$tmp/bin/harness
if has s3 || has conc; then
	vgw=${VERSITYGW_BIN:-}
	if [[ -z $vgw ]]; then
		ver=$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/versity/versitygw") { print $(i + 1); exit } }' "$root/tools/versitygw/go.mod")
		cache=${XDG_CACHE_HOME:-$HOME/.cache}/wharf-test/versitygw-$ver-$(go env GOVERSION)
		if [[ -x $cache ]]; then
			vgw=$cache # built by the storage tests (storage/storagetest.S3Binary)
		else
			log "bench/sftp: building versitygw $ver (a few minutes)"
			(cd "$root/tools/versitygw" && GOWORK=off go build -o "$tmp/bin/versitygw" github.com/versity/versitygw/cmd/versitygw)
			vgw=$tmp/bin/versitygw
		fi
	fi
fi

# --- data and keys ----------------------------------------------------------
bytes=$((SIZE_MB << 20))
log "bench/sftp: making $SIZE_MB MiB of random data"
head -c "$bytes" /dev/urandom >"$tmp/src.bin"
src_sha=$(sha256sum "$tmp/src.bin" | cut -d' ' -f1)
ssh-keygen -q -t ed25519 -N '' -C bench -f "$tmp/key"
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$tmp/sshd/host_ed25519"

read -r p_wharf p_sshd p_s3 < <($H ports 3 | paste -sd' ')

# --- versitygw ------------------------------------------------------------------
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret-$RANDOM$RANDOM
s3_ep=http://127.0.0.1:$p_s3
if has s3 || has conc; then
	mkdir -p "$tmp/s3"
	# A minimal environment: versitygw reads many ROOT_* and VGW_* variables.
	background versitygw env -i PATH="$PATH" HOME="$HOME" TMPDIR="${TMPDIR:-/tmp}" \
		"$vgw" --access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" \
		--region us-east-1 --port "127.0.0.1:$p_s3" --quiet posix "$tmp/s3"
	$H wait "127.0.0.1:$p_s3"
	$H s3 "$s3_ep" mkbucket bench
fi

# --- wharf ------------------------------------------------------------------------
wharf_env=(WHARF_DATA_DIR="$tmp/wharf" WHARF_FTP_LISTEN= WHARF_ADMIN_LISTEN=
	WHARF_SFTP_LISTEN="127.0.0.1:$p_wharf" WHARF_LOG_LEVEL=info)
if has s3 || has conc; then
	wharf_env+=(WHARF_BACKENDS_S3_URL="s3://bench?endpoint=$s3_ep&region=us-east-1&use_path_style=true&disable_https=true&request_checksum_calculation=when_required")
fi
wharf() { env "${wharf_env[@]}" "$tmp/bin/wharf" "$@"; }
wharf user add bench --key-file "$tmp/key.pub" --home local >/dev/null 2>&1 ||
	{ wharf user add bench --key-file "$tmp/key.pub" --home local; die "wharf user add failed"; }
if has s3 || has conc; then
	wharf user add bench3 --key-file "$tmp/key.pub" --home s3 >/dev/null 2>&1 ||
		{ wharf user add bench3 --key-file "$tmp/key.pub" --home s3; die "wharf user add failed"; }
fi
background wharf env "${wharf_env[@]}" "$tmp/bin/wharf" serve
wharf_pid=$bgpid
$H wait "127.0.0.1:$p_wharf"

# --- sshd ---------------------------------------------------------------------------
me=$(id -un)
cat >"$tmp/sshd/sshd_config" <<EOF
Port $p_sshd
ListenAddress 127.0.0.1
HostKey $tmp/sshd/host_ed25519
PidFile $tmp/sshd/sshd.pid
AuthorizedKeysFile $tmp/key.pub
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AllowUsers $me
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
LogLevel ERROR
Subsystem sftp ${SFTP_SERVER:-internal-sftp}
EOF
[[ $(id -u) == 0 ]] && mkdir -p /run/sshd # privilege separation directory
"$SSHD" -t -f "$tmp/sshd/sshd_config" || die "sshd rejects $tmp/sshd/sshd_config"
background sshd "$SSHD" -D -e -f "$tmp/sshd/sshd_config"
sshd_pid=$bgpid
$H wait "127.0.0.1:$p_sshd"

# --- measuring ------------------------------------------------------------------------
results=$tmp/results
: >"$results"

# sftp_batch PORT USER CIPHER BATCH-LINE...: one sftp session in batch mode.
sftp_batch() {
	local port=$1 user=$2 cipher=$3
	shift 3
	printf '%s\n' "$@" >"$tmp/batch"
	local opts=(-F /dev/null -q -b "$tmp/batch" -P "$port" -i "$tmp/key"
		-o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no
		-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)
	[[ $cipher == default ]] || opts+=(-c "$cipher")
	sftp "${opts[@]}" "$user@127.0.0.1" >/dev/null
}

# negotiated PORT USER CIPHER: the cipher the connection settles on.
negotiated() {
	local opts=(-F /dev/null -v -b /dev/null -P "$1" -i "$tmp/key" -o IdentitiesOnly=yes -o BatchMode=yes
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null)
	[[ $3 == default ]] || opts+=(-c "$3")
	sftp "${opts[@]}" "$2@127.0.0.1" 2>&1 >/dev/null |
		awk '/kex: server->client cipher:/ { print $5; exit }'
}

# Server CPU time in clock ticks: wharf's own; the sshd listener's
# children (connection processes and their sftp-server), once reaped.
hz=$(getconf CLK_TCK)
cpu_wharf() { awk '{ print $14 + $15 }' "/proc/$wharf_pid/stat"; }
cpu_sshd() {
	local i
	for ((i = 0; i < 200; i++)); do # the sessions end just after the client
		pgrep -P "$sshd_pid" >/dev/null || break
		sleep 0.01
	done
	awk '{ print $16 + $17 }' "/proc/$sshd_pid/stat"
}
cpu_none() { echo 0; }
# children_cpu: the CPU ticks of this shell's children that have ended
# (the clients: sftp with its ssh, or the direct S3 client), as the
# builtin times, run in this shell before, wrote them to $tmp/times.
children_cpu() {
	awk -v hz="$hz" 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, f, "m"); t += f[1] * 60 + f[2] } printf "%d", t * hz }' "$tmp/times"
}
cpu_all() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; } # the whole machine

# timed KEY CPUFN CMD...: runs CMD, records the MiB/s of $xfer_bytes
# under KEY, the server CPU seconds (CPUFN) under cpu/KEY, the client's
# under client/KEY and the whole machine's under all/KEY.
timed() {
	local key=$1 cpufn=$2 t0 t1 c0 c1 a0 a1 k0 k1 rate cpu all client
	shift 2
	sync
	times >"$tmp/times" # here, not in a subshell: a subshell's children are not this shell's
	k0=$(children_cpu)
	c0=$($cpufn)
	a0=$(cpu_all)
	t0=$(date +%s%N)
	"$@" || die "$key: failed: $*"
	t1=$(date +%s%N)
	a1=$(cpu_all)
	c1=$($cpufn)
	times >"$tmp/times"
	k1=$(children_cpu)
	rate=$(awk -v b="$xfer_bytes" -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", b / 1048576 / (ns / 1e9) }')
	cpu=$(awk -v t=$((c1 - c0)) -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
	all=$(awk -v t=$((a1 - a0)) -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
	client=$(awk -v t=$((k1 - k0)) -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
	echo "$key $rate" >>"$results"
	echo "all/$key $all" >>"$results"
	echo "client/$key $client" >>"$results"
	[[ $cpufn == cpu_none ]] || echo "cpu/$key $cpu" >>"$results"
	log "  $key: $rate MiB/s, server CPU $cpu s, client CPU $client s, machine CPU $all s"
}

# warm_dl: writes and removes a file of the transfer's size where the
# downloads go, just before a timed download. On the development VM the
# first download after an upload cost the client 1.3-2.3 times the CPU
# of one that followed a download, whichever server it came from:
# writing into memory just freed is cheaper than into memory left alone
# for a while. Warming it the same way before every download keeps the
# order of a round out of the figures.
warm_dl() {
	head -c "$xfer_bytes" /dev/zero >"$dl/warm.bin"
	rm -f "$dl/warm.bin"
}

# check LABEL FILE: FILE must hold the source data.
check() {
	local got
	got=$(sha256sum "$2" | cut -d' ' -f1)
	[[ $got == "$src_sha" ]] || die "$1: sha256 mismatch: $2 has $got, want $src_sha"
}

# rss_reset / rss_peak: wharf's peak resident set since the reset, MiB.
rss_reset() { echo 5 >"/proc/$wharf_pid/clear_refs" 2>/dev/null || true; }
rss_peak() { awk '/^VmHWM:/ { printf "%d", $2 / 1024 }' "/proc/$wharf_pid/status"; }
rss_max() { # KEY VALUE: keep the largest
	local old
	old=$(awk -v k="$1" '$1 == k { print $2 }' "$results" | tail -n1)
	if [[ -z $old || $2 -gt $old ]]; then echo "$1 $2" >>"$results"; fi
}

xfer_bytes=$bytes
wharf_local=$tmp/wharf/files/users/bench # where the local backend keeps the user's files
wharf_s3=$tmp/s3/bench/users/bench3      # and versitygw the S3 user's

# One measurement pair, interleaved: wharf first in odd rounds.
pair() { # ROUND FIRST-FN SECOND-FN
	if (($1 % 2)); then $2; $3; else $3; $2; fi
}

declare -A label
if has local; then
	for c in $CIPHERS; do
		w=$(negotiated "$p_wharf" bench "$c")
		o=$(negotiated "$p_sshd" "$me" "$c")
		[[ $w == "$o" ]] || log "bench/sftp: warning: cipher $c negotiates $w with wharf but $o with sshd"
		label[$c]=$w
	done
	for ((r = 1; r <= ROUNDS; r++)); do
		for c in $CIPHERS; do
			log "local disk, round $r/$ROUNDS, cipher ${label[$c]}"
			rm -f "$wharf_local/up.bin" "$wharf_local/up.bin.attrs" "$tmp/ossh/up.bin"
			w_up() {
				rss_reset
				timed "local/$c/up/wharf" cpu_wharf sftp_batch "$p_wharf" bench "$c" "put $tmp/src.bin up.bin"
				rss_max rss/local/up "$(rss_peak)"
				check "wharf local upload" "$wharf_local/up.bin"
			}
			o_up() {
				timed "local/$c/up/openssh" cpu_sshd sftp_batch "$p_sshd" "$me" "$c" "put $tmp/src.bin $tmp/ossh/up.bin"
				check "OpenSSH upload" "$tmp/ossh/up.bin"
			}
			w_down() {
				rm -f "$dl/w.bin"
				warm_dl
				timed "local/$c/down/wharf" cpu_wharf sftp_batch "$p_wharf" bench "$c" "get up.bin $dl/w.bin"
				check "wharf local download" "$dl/w.bin"
				rm -f "$dl/w.bin"
			}
			o_down() {
				rm -f "$dl/o.bin"
				warm_dl
				timed "local/$c/down/openssh" cpu_sshd sftp_batch "$p_sshd" "$me" "$c" "get $tmp/ossh/up.bin $dl/o.bin"
				check "OpenSSH download" "$dl/o.bin"
				rm -f "$dl/o.bin"
			}
			pair "$r" w_up o_up
			pair "$r" w_down o_down
		done
	done
	rm -f "$wharf_local/up.bin" "$wharf_local/up.bin.attrs" "$tmp/ossh/up.bin"
fi

if has s3; then
	for c in $CIPHERS; do
		[[ -n ${label[$c]:-} ]] || label[$c]=$(negotiated "$p_wharf" bench3 "$c")
	done
	for ((r = 1; r <= ROUNDS; r++)); do
		log "S3, round $r/$ROUNDS"
		d_up() {
			timed "s3/up/direct" cpu_none $H s3 "$s3_ep" put bench direct.bin "$tmp/src.bin"
			check "direct S3 upload" "$tmp/s3/bench/direct.bin"
		}
		d_down() {
			rm -f "$dl/d.bin"
			warm_dl
			timed "s3/down/direct" cpu_none $H s3 "$s3_ep" get bench direct.bin "$dl/d.bin"
			check "direct S3 download" "$dl/d.bin"
			rm -f "$dl/d.bin"
		}
		for c in $CIPHERS; do
			w_up() {
				rss_reset
				timed "s3/$c/up/wharf" cpu_wharf sftp_batch "$p_wharf" bench3 "$c" "put $tmp/src.bin up.bin"
				rss_max rss/s3/up "$(rss_peak)"
				check "wharf S3 upload" "$wharf_s3/up.bin"
			}
			w_down() {
				rm -f "$dl/w.bin"
				warm_dl
				timed "s3/$c/down/wharf" cpu_wharf sftp_batch "$p_wharf" bench3 "$c" "get up.bin $dl/w.bin"
				check "wharf S3 download" "$dl/w.bin"
				rm -f "$dl/w.bin"
			}
			pair "$r" w_up d_up
			pair "$r" w_down d_down
		done
	done
fi

if has conc; then
	log "concurrent: $CONC_CLIENTS sftp clients downloading $CONC_MB MiB each from S3"
	head -c $((CONC_MB << 20)) "$tmp/src.bin" >"$tmp/conc.bin"
	conc_sha=$(sha256sum "$tmp/conc.bin" | cut -d' ' -f1)
	$H s3 "$s3_ep" put bench users/bench3/conc.bin "$tmp/conc.bin"
	mkdir -p "$dl/conc"
	rss_reset
	t0=$(date +%s%N)
	cpids=()
	for ((i = 1; i <= CONC_CLIENTS; i++)); do
		printf 'get conc.bin %s\n' "$dl/conc/$i.bin" >"$dl/conc/$i.batch"
		sftp -F /dev/null -q -b "$dl/conc/$i.batch" -P "$p_wharf" -i "$tmp/key" -o IdentitiesOnly=yes \
			-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
			bench3@127.0.0.1 >"$dl/conc/$i.log" 2>&1 &
		cpids+=($!)
	done
	failed=0
	for p in "${cpids[@]}"; do wait "$p" || failed=$((failed + 1)); done
	t1=$(date +%s%N)
	conc_rss=$(rss_peak)
	bad=0
	for ((i = 1; i <= CONC_CLIENTS; i++)); do
		[[ -f $dl/conc/$i.bin && $(sha256sum "$dl/conc/$i.bin" | cut -d' ' -f1) == "$conc_sha" ]] || bad=$((bad + 1))
	done
	((failed == 0 && bad == 0)) || { head -n3 "$tmp"/dl/conc/*.log >&2 || true; die "concurrent: $failed clients failed, $bad files wrong"; }
	conc_rate=$(awk -v b=$((CONC_CLIENTS * (CONC_MB << 20))) -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", b / 1048576 / (ns / 1e9) }')
	conc_secs=$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", ns / 1e9 }')
fi

# --- report ------------------------------------------------------------------------------
median() { # KEY [PRINTF-FORMAT]
	awk -v k="$1" '$1 == k { print $2 }' "$results" | sort -n | awk -v f="${2:-%.1f}" '
		{ v[NR] = $1 }
		END { if (NR == 0) print "-"; else printf f "\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
runs() { awk -v k="$1" '$1 == k { printf "%s%s", sep, $2; sep = " " }' "$results"; }
verdict() { # VALUE TARGET: ok when VALUE >= TARGET (runs in a subshell: misses go to a file)
	if awk -v r="$1" -v t="$2" 'BEGIN { exit !(r + 0 >= t + 0) }'; then echo ok; else
		echo x >>"$tmp/missed"
		echo MISS
	fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
cname() { # CIPHER: the negotiated name, shortened
	local n=${label[$1]%@openssh.com}
	[[ $1 == default ]] && n="$n (dflt)"
	echo "$n"
}

echo
echo "wharf SFTP benchmark: $SIZE_MB MiB, $ROUNDS rounds; medians in MiB/s, all runs in [brackets];"
echo "CPU:w, CPU:o = server CPU seconds per transfer (wharf; sshd + sftp-server); CL = the client's"
echo "(sftp with its ssh; or the direct S3 client); ALL = the whole machine's"
echo "$(nproc) CPUs, $(ssh -V 2>&1 | cut -d, -f1), $(go env GOVERSION), sftp-server: ${SFTP_SERVER:-internal-sftp}"
echo "servers store files under $tmp; downloads go to $dl"
if has local; then
	echo
	echo "Local disk: wharf (local backend) vs OpenSSH sshd + sftp-server on the same disk; target ratio >= $T_LOCAL"
	printf '%-24s %-4s %7s %7s %5s %-4s %6s %6s  %s\n' cipher dir wharf OpenSSH ratio "" CPU:w CPU:o "runs wharf / OpenSSH"
	for c in $CIPHERS; do
		for d in up down; do
			w=$(median "local/$c/$d/wharf")
			o=$(median "local/$c/$d/openssh")
			q=$(ratio "$w" "$o")
			printf '%-24s %-4s %7s %7s %5s %-4s %6s %6s  [%s] / [%s]\n' "$(cname "$c")" "$d" "$w" "$o" "$q" \
				"$(verdict "$q" $T_LOCAL)" "$(median "cpu/local/$c/$d/wharf" %.2f)" "$(median "cpu/local/$c/$d/openssh" %.2f)" \
				"$(runs "local/$c/$d/wharf")" "$(runs "local/$c/$d/openssh")"
		done
	done
fi
if has s3; then
	echo
	echo "S3 (versitygw, loopback): wharf SFTP vs direct S3 client (PUT: 8 MiB parts x 4; GET: one stream)"
	echo "targets: upload >= $T_S3_UP x direct, download >= $T_S3_DOWN x direct"
	printf '%-24s %-4s %7s %7s %5s %-4s %6s %6s %6s %6s %6s  %s\n' cipher dir wharf direct ratio "" CPU:w CL:w CL:d ALL:w ALL:d "runs wharf"
	for c in $CIPHERS; do
		for d in up down; do
			w=$(median "s3/$c/$d/wharf")
			o=$(median "s3/$d/direct")
			q=$(ratio "$w" "$o")
			t=$T_S3_UP
			[[ $d == down ]] && t=$T_S3_DOWN
			printf '%-24s %-4s %7s %7s %5s %-4s %6s %6s %6s %6s %6s  [%s]\n' "$(cname "$c")" "$d" "$w" "$o" "$q" \
				"$(verdict "$q" "$t")" "$(median "cpu/s3/$c/$d/wharf" %.2f)" \
				"$(median "client/s3/$c/$d/wharf" %.2f)" "$(median "client/s3/$d/direct" %.2f)" \
				"$(median "all/s3/$c/$d/wharf" %.2f)" "$(median "all/s3/$d/direct" %.2f)" "$(runs "s3/$c/$d/wharf")"
		done
	done
	echo "direct S3 runs: up [$(runs s3/up/direct)], down [$(runs s3/down/direct)]"
	if has local; then
		for c in $CIPHERS; do
			printf 'SSH ceiling (%s): OpenSSH local-disk / direct S3 = up %s, down %s\n' "$(cname "$c")" \
				"$(ratio "$(median "local/$c/up/openssh")" "$(median s3/up/direct)")" \
				"$(ratio "$(median "local/$c/down/openssh")" "$(median s3/down/direct)")"
		done
	fi
fi
echo
for b in local s3; do
	v=$(awk -v k="rss/$b/up" '$1 == k { print $2 }' "$results" | tail -n1)
	[[ -n $v ]] && printf 'wharf peak RSS during the %s MiB uploads (%s backend): %s MiB (target <= %s MiB) %s\n' \
		"$SIZE_MB" "$b" "$v" "$T_RSS_UP" "$(verdict $((T_RSS_UP - v)) 0)"
done
if has conc; then
	printf '%s sftp clients x %s MiB from S3 at once: all verified, %s s (%s MiB/s in all), wharf peak RSS %s MiB (target <= %s MiB) %s\n' \
		"$CONC_CLIENTS" "$CONC_MB" "$conc_secs" "$conc_rate" "$conc_rss" "$T_RSS_CONC" "$(verdict $((T_RSS_CONC - conc_rss)) 0)"
fi
if [[ -s $tmp/missed && -n ${STRICT:-} ]]; then exit 3; fi
exit 0
