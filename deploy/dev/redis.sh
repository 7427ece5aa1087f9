#!/usr/bin/env bash
# Redis for development and tests: the Debian package's server, on loopback,
# no persistence (--save ''), data and log under .dev/.
#   deploy/dev/redis.sh up|down|status
SERVICE=redis
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=${OFS_REDIS_PORT:-16379}
ADDR=127.0.0.1:$PORT
DIR=$OFS_DEV_DIR/redis

install() {
	command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
	log "installing redis-server from Debian"
	apt_install redis-apt.log redis-server
	# The package starts a system-wide instance on 6379; it is not ours and not used.
}

healthy() { [[ $(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null) == PONG ]]; }

up() {
	local t0=$SECONDS
	if running redis && healthy; then
		log "already running at $ADDR"
		set_env OFS_REDIS_ADDR "$ADDR"
		return 0
	fi
	port_open "$PORT" && die "port $PORT is taken by a process this project did not start"
	install
	mkdir -p "$DIR"
	start_bg redis redis-server --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no \
		--dir "$DIR" --daemonize no --protected-mode yes --maxmemory 2gb --maxmemory-policy noeviction
	wait_healthy redis 30 healthy
	set_env OFS_REDIS_ADDR "$ADDR"
	log "up at $ADDR in $((SECONDS - t0))s"
}

case ${1:-} in
up) up ;;
down) stop redis OFS_REDIS_ADDR ;;
status) if running redis && healthy; then echo "redis: running at $ADDR"; else echo "redis: not running"; fi ;;
*) die "usage: $0 up|down|status" ;;
esac
