# shellcheck shell=bash
# Shared helpers for the deploy/dev service scripts. Source it; do not run it.
#
# Layout (everything under one ignored folder, $OFS_DEV_DIR, default <repo>/.dev):
#   .dev/<service>/        install, data and config of one service
#   .dev/log/<service>.log its output
#   .dev/run/<service>.pid the pid of the process this project started
#   .dev/services.env      KEY=VALUE lines with the address of every service that is up;
#                          tests read it through internal/testenv.

set -euo pipefail

OFS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OFS_DEV_DIR=${OFS_DEV_DIR:-$OFS_ROOT/.dev}
OFS_ENV_FILE=$OFS_DEV_DIR/services.env
mkdir -p "$OFS_DEV_DIR/log" "$OFS_DEV_DIR/run"

log() { printf '[%s] %s\n' "${SERVICE:-dev}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

pidfile() { printf '%s/run/%s.pid' "$OFS_DEV_DIR" "$1"; }

# running NAME: true when the pid recorded for NAME is alive.
running() {
	local f; f=$(pidfile "$1")
	[[ -s $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# start_bg NAME CMD...: start CMD detached in its own session, output to the
# service log, and record its pid.
start_bg() {
	local name=$1; shift
	local out=$OFS_DEV_DIR/log/$name.log
	: >"$out"
	setsid nohup "$@" >>"$out" 2>&1 </dev/null &
	echo $! >"$(pidfile "$name")"
}

# wait_healthy NAME TIMEOUT_SECONDS CHECK...: poll CHECK until it succeeds, the
# process dies, or the timeout passes. On failure the log's tail is printed.
wait_healthy() {
	local name=$1 timeout=$2; shift 2
	local deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if ! running "$name"; then
			tail -n 40 "$OFS_DEV_DIR/log/$name.log" >&2 || true
			die "$name exited during start-up (log: $OFS_DEV_DIR/log/$name.log)"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 40 "$OFS_DEV_DIR/log/$name.log" >&2 || true
			die "$name not healthy after ${timeout}s (log: $OFS_DEV_DIR/log/$name.log)"
		fi
		sleep 1
	done
}

# stop NAME [ENV_KEY]: stop the process group this project started for NAME, and
# only it, then drop ENV_KEY from the services file.
stop() {
	local name=$1 f pid
	f=$(pidfile "$name")
	[[ -s $f ]] || { log "$name: not started by us"; return 0; }
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		log "stopping $name (pid $pid)"
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
		if kill -0 "$pid" 2>/dev/null; then
			log "$name did not stop in 30s, killing"
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
			# SIGKILL is asynchronous: wait until the process is really gone.
			for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		fi
	fi
	rm -f "$f"
	unset_env "${2:-}"
}

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# set_env KEY VALUE / unset_env KEY: maintain $OFS_ENV_FILE. Several service
# scripts may run at once: the read-modify-write is serialised with flock, or
# one script's key could be lost. The lock fd lives only in the subshell.
set_env() {
	(
		flock -w 30 9 || die "could not lock $OFS_ENV_FILE"
		local tmp; tmp=$(mktemp "$OFS_DEV_DIR/.env.XXXXXX")
		{ [[ -f $OFS_ENV_FILE ]] && grep -v "^$1=" "$OFS_ENV_FILE" || true; echo "$1=$2"; } >"$tmp"
		chmod 644 "$tmp"
		mv "$tmp" "$OFS_ENV_FILE"
	) 9>"$OFS_DEV_DIR/run/.env.lock"
}
unset_env() {
	[[ -n ${1:-} && -f $OFS_ENV_FILE ]] || return 0
	(
		flock -w 30 9 || die "could not lock $OFS_ENV_FILE"
		local tmp; tmp=$(mktemp "$OFS_DEV_DIR/.env.XXXXXX")
		grep -v "^$1=" "$OFS_ENV_FILE" >"$tmp" || true
		chmod 644 "$tmp"
		mv "$tmp" "$OFS_ENV_FILE"
	) 9>"$OFS_DEV_DIR/run/.env.lock"
}

# apt_install LOG PACKAGE...: install Debian packages, non-interactively,
# output to .dev/log/LOG. apt-get waits up to 10 minutes for the dpkg and
# apt locks (another apt-get, unattended-upgrades) instead of failing at once;
# a failed `apt-get update` is not fatal (the lists may be recent enough).
apt_install() {
	local out=$OFS_DEV_DIR/log/$1; shift
	local wait=(-o DPkg::Lock::Timeout=600)
	export DEBIAN_FRONTEND=noninteractive
	apt-get "${wait[@]}" update -qq >"$out" 2>&1 || log "apt-get update failed (see $out); installing from the lists there are"
	apt-get "${wait[@]}" install -y -qq --no-install-recommends "$@" >>"$out" 2>&1 ||
		{ tail -n 20 "$out" >&2; die "apt-get install $* failed (log: $out)"; }
}

# mvn_fetch DIR GROUP:ARTIFACT:VERSION...: resolve artifacts and all their
# runtime dependencies from Maven Central into the local Maven repository,
# then copy the jars into DIR/lib. Idempotent: skipped when DIR/lib/.done exists
# and lists the same artifacts (an empty .done from older runs counts as a match).
# When the list changed (say, a version bump), DIR/lib is rebuilt from scratch so
# no jar of the old set stays on the class path.
mvn_fetch() {
	local dir=$1; shift
	local want; want=$(printf '%s\n' "$@")
	if [[ -f $dir/lib/.done ]]; then
		[[ ! -s $dir/lib/.done || $(cat "$dir/lib/.done") == "$want" ]] && return 0
		log "artifact list changed; rebuilding $dir/lib"
		rm -rf "${dir:?}/lib"
	fi
	mkdir -p "$dir/lib"
	local pom=$dir/pom.xml deps=""
	for gav in "$@"; do
		IFS=: read -r g a v <<<"$gav"
		deps+="<dependency><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version></dependency>"
	done
	cat >"$pom" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.ofs.local</groupId><artifactId>$(basename "$dir")-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>$deps</dependencies>
</project>
POM
	log "resolving $* from Maven Central"
	mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory="$dir/lib" >"$OFS_DEV_DIR/log/$(basename "$dir")-mvn.log" 2>&1 ||
		{ tail -n 30 "$OFS_DEV_DIR/log/$(basename "$dir")-mvn.log" >&2; die "maven could not resolve $*"; }
	printf '%s\n' "$want" >"$dir/lib/.done"
}

# dev_tls DIR WHAT: once, a CA of this dev setup and a certificate for
# 127.0.0.1 and localhost signed by it, made with openssl: DIR/ca.pem,
# DIR/cert.pem, DIR/key.pem, and DIR/keystore.pem (the key, the certificate
# and the CA in one PEM file, as Kafka's and Cassandra's PEM keystores read
# it). WHAT names them in the subjects and in the log.
dev_tls() {
	local dir=$1 what=$2
	[[ -s $dir/keystore.pem && -s $dir/ca.pem ]] && return 0
	command -v openssl >/dev/null || die "openssl not found (deploy/dev/tools.sh installs it)"
	mkdir -p "$dir"
	log "making the dev CA and the $what's certificate in $dir"
	(
		cd "$dir"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
			-subj "/CN=ofs dev $what CA" -keyout ca-key.pem -out ca.pem
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
			-keyout key.pem -out cert.csr
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >cert.ext
		openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
			-extfile cert.ext -out cert.pem
		cat key.pem cert.pem ca.pem >keystore.pem.tmp && mv keystore.pem.tmp keystore.pem
	) >"$OFS_DEV_DIR/log/$SERVICE-tls.log" 2>&1 ||
		{ tail -n 20 "$OFS_DEV_DIR/log/$SERVICE-tls.log" >&2; die "making the TLS certificates failed"; }
}
