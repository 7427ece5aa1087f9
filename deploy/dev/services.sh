#!/usr/bin/env bash
# Every service the tests need, on loopback: Kafka (KRaft), Redis, a Redis Cluster, Cassandra, etcd.
#   deploy/dev/services.sh up|down|status [service...]
# up installs what is missing and starts what is not running (a no-op for what
# is); down stops only the processes these scripts started, by pid.
SERVICE=services
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here=$(dirname "${BASH_SOURCE[0]}")
cmd=${1:-}
shift || true
all=(redis redis-cluster etcd kafka cassandra)
svcs=("$@")
((${#svcs[@]})) || svcs=("${all[@]}")

case $cmd in
up)
	t0=$SECONDS
	# Packages first, in one apt-get: parallel apt-get calls would fight over its lock.
	bash "$here/tools.sh"
	# The JVMs start in parallel: they are the slow ones.
	pids=() names=()
	for s in "${svcs[@]}"; do
		bash "$here/$s.sh" up &
		pids+=($!) names+=("$s")
	done
	failed=()
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || failed+=("${names[$i]}")
	done
	((${#failed[@]} == 0)) || die "failed to start: ${failed[*]} (logs in $OFS_DEV_DIR/log)"
	log "all up in $((SECONDS - t0))s; addresses in $OFS_ENV_FILE:"
	cat "$OFS_ENV_FILE" >&2
	;;
down)
	for s in "${svcs[@]}"; do bash "$here/$s.sh" down; done
	;;
status)
	for s in "${svcs[@]}"; do bash "$here/$s.sh" status || true; done
	;;
*) die "usage: $0 up|down|status [${all[*]}]" ;;
esac
