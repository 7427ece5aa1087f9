#!/usr/bin/env bash
# A Redis Cluster of three masters (no replicas) for tests: the same Debian
# redis-server as deploy/dev/redis.sh, on loopback ports next to it, no
# persistence, data and logs under .dev/redis-cluster/. It never touches the
# standalone Redis.
#   deploy/dev/redis-cluster.sh up|down|status
# The seed addresses (all three masters) go to OFS_REDIS_CLUSTER_ADDRS.
SERVICE=redis-cluster
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE=${OFS_REDIS_CLUSTER_PORT:-17001}
PORTS=("$BASE" "$((BASE + 1))" "$((BASE + 2))")
DIR=$OFS_DEV_DIR/redis-cluster
ADDRS=$(printf '127.0.0.1:%s,' "${PORTS[@]}")
ADDRS=${ADDRS%,}

node_ok() { [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }
cluster_ok() {
	local p
	for p in "${PORTS[@]}"; do
		redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
	done
}
all_running() {
	local p
	for p in "${PORTS[@]}"; do running "redis-cluster-$p" && node_ok "$p" || return 1; done
}

up() {
	local t0=$SECONDS p
	if all_running && cluster_ok; then
		log "already running at $ADDRS"
		set_env OFS_REDIS_CLUSTER_ADDRS "$ADDRS"
		return 0
	fi
	command -v redis-server >/dev/null || die "redis-server is not installed (deploy/dev/redis.sh up installs it)"
	for p in "${PORTS[@]}"; do
		if running "redis-cluster-$p" && node_ok "$p"; then continue; fi
		port_open "$p" && die "port $p is taken by a process this project did not start"
		# A node that starts again forgets its old cluster: its nodes.conf goes.
		rm -rf "${DIR:?}/$p"
		mkdir -p "$DIR/$p"
		start_bg "redis-cluster-$p" redis-server --bind 127.0.0.1 --port "$p" --save '' --appendonly no \
			--dir "$DIR/$p" --daemonize no --protected-mode yes --maxmemory 512mb --maxmemory-policy noeviction \
			--cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000
		wait_healthy "redis-cluster-$p" 30 node_ok "$p"
	done
	if ! cluster_ok; then
		# Nodes that know no cluster yet: join them. A partly formed cluster
		# (an earlier up cut short) is started again from empty nodes.
		for p in "${PORTS[@]}"; do redis-cli -p "$p" flushall >/dev/null; redis-cli -p "$p" cluster reset hard >/dev/null; done
		local hosts=()
		for p in "${PORTS[@]}"; do hosts+=("127.0.0.1:$p"); done
		redis-cli --cluster create "${hosts[@]}" --cluster-replicas 0 --cluster-yes \
			>>"$OFS_DEV_DIR/log/redis-cluster.log" 2>&1 || die "redis-cli --cluster create failed (log: $OFS_DEV_DIR/log/redis-cluster.log)"
		local deadline=$((SECONDS + 30))
		until cluster_ok; do
			((SECONDS < deadline)) || die "cluster not ok after 30s"
			sleep 1
		done
	fi
	set_env OFS_REDIS_CLUSTER_ADDRS "$ADDRS"
	log "up at $ADDRS in $((SECONDS - t0))s"
}

down() {
	local p
	for p in "${PORTS[@]}"; do stop "redis-cluster-$p"; done
	unset_env OFS_REDIS_CLUSTER_ADDRS
}

case ${1:-} in
up) up ;;
down) down ;;
status) if all_running && cluster_ok; then echo "redis-cluster: running at $ADDRS"; else echo "redis-cluster: not running"; fi ;;
*) die "usage: $0 up|down|status" ;;
esac
