#!/usr/bin/env bash
# bench/sftp/compare.sh A B: two wharf binaries side by side. Each serves
# the same file from its own data directory; OpenSSH's sftp client
# downloads and uploads it to each in turn (the order alternates every
# round), and every transfer prints its rate, the CPU seconds per GiB of
# wharf, of the client (sftp and its ssh) and of the whole machine, and
# wharf's peak RSS. For telling whether a change helps when the
# run-to-run noise of bench/sftp/run.sh hides it.
#
# Environment (defaults in brackets):
#   BACKEND [local]   local, or s3 (versitygw, as bench/sftp/run.sh finds it)
#   CIPHER [aes128-gcm@openssh.com]  or "default"
#   DIRS ["down up"], ROUNDS [3], SIZE_MB [512]; DIRS may also name
#                     reput: the last 16th of the file, resumed
#                     (the rate is that of the whole file)
#   DEST [/dev/null]  where downloads go (not verified when /dev/null)
set -euo pipefail
[[ $# == 2 ]] || { echo "usage: bench/sftp/compare.sh WHARF_BIN_A WHARF_BIN_B" >&2; exit 2; }
A=$(realpath "$1")
B=$(realpath "$2")
BACKEND=${BACKEND:-local}
CIPHER=${CIPHER:-aes128-gcm@openssh.com}
DIRS=${DIRS:-"down up"}
ROUNDS=${ROUNDS:-3}
SIZE_MB=${SIZE_MB:-512}
DEST=${DEST:-/dev/null}
root=$(cd "$(dirname "$0")/../.." && pwd)

exec 9>"${BENCH_LOCK:-/tmp/wharf-bench.lock}"
flock 9
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wharf-compare.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/harness" ./bench/sftp/harness)
H=$tmp/harness
read -r p_a p_b p_s3 < <($H ports 3 | paste -sd' ')
head -c $((SIZE_MB << 20)) /dev/urandom >"$tmp/src.bin"
head -c $((SIZE_MB * 15 / 16 << 20)) "$tmp/src.bin" >"$tmp/head.bin"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/key"

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret-$RANDOM$RANDOM
if [[ $BACKEND == s3 ]]; then
	ver=$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/versity/versitygw") { print $(i + 1); exit } }' "$root/tools/versitygw/go.mod")
	vgw=${VERSITYGW_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/wharf-test/versitygw-$ver-$(go env GOVERSION)}
	[[ -x $vgw ]] || { echo "compare: no versitygw at $vgw: run go test ./storage once, or set VERSITYGW_BIN" >&2; exit 1; }
	mkdir -p "$tmp/s3"
	env -i PATH="$PATH" HOME="$HOME" "$vgw" --access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" \
		--region us-east-1 --port "127.0.0.1:$p_s3" --quiet posix "$tmp/s3" >"$tmp/versitygw.log" 2>&1 &
	$H wait "127.0.0.1:$p_s3"
	$H s3 "http://127.0.0.1:$p_s3" mkbucket bench
fi

declare -A pid port=([A]=$p_a [B]=$p_b)
for n in A B; do
	env=(WHARF_DATA_DIR="$tmp/$n" WHARF_FTP_LISTEN= WHARF_ADMIN_LISTEN= WHARF_SFTP_LISTEN="127.0.0.1:${port[$n]}"
		WHARF_LOG_LEVEL=warn
		WHARF_BACKENDS_S3_URL="s3://bench?endpoint=http://127.0.0.1:$p_s3&region=us-east-1&use_path_style=true&disable_https=true&prefix=$n/")
	env "${env[@]}" "${!n}" user add bench --key-file "$tmp/key.pub" --home "$BACKEND" >/dev/null
	env "${env[@]}" "${!n}" serve >"$tmp/$n.log" 2>&1 &
	pid[$n]=$!
	$H wait "127.0.0.1:${port[$n]}"
done

sftp_to() { # NAME BATCH-LINE
	local opts=(-F /dev/null -q -b - -P "${port[$1]}" -i "$tmp/key" -o IdentitiesOnly=yes -o BatchMode=yes
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)
	[[ $CIPHER == default ]] || opts+=(-c "$CIPHER")
	echo "$2" | sftp "${opts[@]}" bench@127.0.0.1 >/dev/null
}
for n in A B; do sftp_to $n "put $tmp/src.bin f.bin"; done
src_sha=$(sha256sum "$tmp/src.bin" | cut -d' ' -f1)
hz=$(getconf CLK_TCK)
cpu_all() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# children_cpu: the CPU seconds of this shell's children that have ended
# (sftp with its ssh), as the builtin times, run in this shell before,
# wrote them to $tmp/times.
children_cpu() {
	awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, f, "m"); t += f[1] * 60 + f[2] } print t }' "$tmp/times"
}

run() { # NAME DIR
	local n=$1 d=$2 line out c0 c1 a0 a1 k0 k1 t0 t1 rss
	out=$DEST
	[[ $DEST == /dev/null ]] || out=$DEST/wharf-compare-$$.bin
	case $d in
	down)
		line="get f.bin $out"
		if [[ $out != /dev/null ]]; then # warmed, as bench/sftp/run.sh's warm_dl explains
			head -c $((SIZE_MB << 20)) /dev/zero >"$out"
			rm -f "$out"
		fi
		;;
	up) line="put $tmp/src.bin up.bin" ;;
	reput) # the stored file holds the first 15/16: reput sends the rest
		sftp_to "$n" "put $tmp/head.bin re.bin"
		line="reput $tmp/src.bin re.bin"
		;;
	esac
	sync
	echo 5 >"/proc/${pid[$n]}/clear_refs"
	times >"$tmp/times" # here, not in a subshell: a subshell's children are not this shell's
	k0=$(children_cpu) c0=$(cpu_of "${pid[$n]}") a0=$(cpu_all) t0=$(date +%s%N)
	sftp_to "$n" "$line"
	t1=$(date +%s%N) c1=$(cpu_of "${pid[$n]}") a1=$(cpu_all)
	times >"$tmp/times"
	k1=$(children_cpu)
	rss=$(awk '/^VmHWM:/ { printf "%d", $2 / 1024 }' "/proc/${pid[$n]}/status")
	if [[ $d == down && $out != /dev/null ]]; then
		[[ $(sha256sum "$out" | cut -d' ' -f1) == "$src_sha" ]] || { echo "compare: $n: download differs" >&2; exit 1; }
		rm -f "$out"
	fi
	awk -v n="$n" -v d="$d" -v b=$((SIZE_MB << 20)) -v ns=$((t1 - t0)) -v c=$((c1 - c0)) -v a=$((a1 - a0)) \
		-v k=$(awk -v a="$k0" -v b="$k1" 'BEGIN { print b - a }') -v hz="$hz" -v rss="$rss" 'BEGIN {
			gib = b / 1073741824
			printf "%s %-4s %7.1f MiB/s  wharf %.2f  client %.2f  machine %.2f CPU s/GiB  peak RSS %d MiB\n",
				n, d, b / 1048576 / (ns / 1e9), c / hz / gib, k / gib, a / hz / gib, rss }'
}
echo "A = $A"
echo "B = $B"
echo "$BACKEND backend, $SIZE_MB MiB, cipher $CIPHER, downloads to $DEST"
for ((r = 1; r <= ROUNDS; r++)); do
	for d in $DIRS; do
		if ((r % 2)); then run A "$d"; run B "$d"; else run B "$d"; run A "$d"; fi
	done
done
