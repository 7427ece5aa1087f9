#!/usr/bin/env bash
# etcd for development and tests: the embedded etcd server of
# internal/etcdserver, built from this module (no etcd package needed).
#   deploy/dev/etcd.sh up|down|status|reset
SERVICE=etcd
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=${OFS_ETCD_PORT:-12379}
PEER_PORT=${OFS_ETCD_PEER_PORT:-12380}
ADDR=127.0.0.1:$PORT
DIR=$OFS_DEV_DIR/etcd
BIN=$OFS_DEV_DIR/bin/ofs-etcd

healthy() { curl -fsS "http://$ADDR/health" 2>/dev/null | grep -q '"health":"true"'; }

up() {
	local t0=$SECONDS
	if running etcd && healthy; then
		log "already running at $ADDR"
		set_env OFS_ETCD_ENDPOINTS "$ADDR"
		return 0
	fi
	port_open "$PORT" && die "port $PORT is taken by a process this project did not start"
	log "building the embedded etcd server"
	(cd "$OFS_ROOT" && go build -o "$BIN" ./deploy/dev/etcd) || die "go build ./deploy/dev/etcd failed"
	mkdir -p "$DIR"
	start_bg etcd "$BIN" -data-dir "$DIR/data" -client-addr "$ADDR" -peer-addr "127.0.0.1:$PEER_PORT"
	wait_healthy etcd 60 healthy
	set_env OFS_ETCD_ENDPOINTS "$ADDR"
	log "up at $ADDR in $((SECONDS - t0))s"
}

case ${1:-} in
up) up ;;
down) stop etcd OFS_ETCD_ENDPOINTS ;;
status) if running etcd && healthy; then echo "etcd: running at $ADDR"; else echo "etcd: not running"; fi ;;
reset) stop etcd OFS_ETCD_ENDPOINTS && rm -rf "$DIR" ;;
*) die "usage: $0 up|down|status|reset" ;;
esac
