#!/usr/bin/env bash
# A Kafka cluster of three KRaft nodes for trying ofs past one broker: each
# node is a broker and a controller in one small JVM (-Xmx320m), on fixed
# loopback ports next to the single dev broker, which it never touches. It
# runs from the jars deploy/dev/kafka.sh installed (.dev/kafka/lib).
#   deploy/dev/kafka-cluster.sh up|down|status
# Topics default to replication 3 and min.insync.replicas 2, so one node may
# be killed without failing an acks=all producer (every ofs producer).
# Ports: client 19101-19103, controller 19111-19113 (base OFS_KAFKA_CLUSTER_PORT).
# The bootstrap list goes to OFS_KAFKA_CLUSTER_BROKERS in services.env.
# Layout: .dev/kafka-cluster/<node>/{server.properties,data}, logs in
# .dev/log/kafka-cluster-<node>.log.
SERVICE=kafka-cluster
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE=${OFS_KAFKA_CLUSTER_PORT:-19101}
NODES=(1 2 3)
LIB=$OFS_DEV_DIR/kafka/lib
DIR=$OFS_DEV_DIR/kafka-cluster
# base64url of "ofs-dev-cluster1" (a 16-byte Kafka Uuid).
CLUSTER_ID=b2ZzLWRldi1jbHVzdGVyMQ
ENV_KEY=OFS_KAFKA_CLUSTER_BROKERS
client_port() { echo $((BASE + $1 - 1)); }
controller_port() { echo $((BASE + 10 + $1 - 1)); }
ADDRS=$(for n in "${NODES[@]}"; do printf '127.0.0.1:%s,' "$(client_port "$n")"; done)
ADDRS=${ADDRS%,}
VOTERS=$(for n in "${NODES[@]}"; do printf '%s@127.0.0.1:%s,' "$n" "$(controller_port "$n")"; done)
VOTERS=${VOTERS%,}
JAVA=(java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true -Dlog4j2.level=warn -cp "$LIB/*")

node_ok() { port_open "$(client_port "$1")" && port_open "$(controller_port "$1")"; }
all_running() {
	local n
	for n in "${NODES[@]}"; do running "kafka-cluster-$n" && node_ok "$n" || return 1; done
}
# answers: a metadata request counts three brokers.
answers() {
	timeout 60 "${JAVA[@]}" -Xmx256m org.apache.kafka.tools.ClusterTool list-endpoints --bootstrap-server "$ADDRS" 2>/dev/null |
		grep -c '^[0-9]' | grep -qx 3
}

write_config() {
	local n=$1 d=$DIR/$1
	mkdir -p "$d/data"
	cat >"$d/server.properties" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$VOTERS
listeners=PLAINTEXT://127.0.0.1:$(client_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(client_port "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$d/data
num.partitions=1
auto.create.topics.enable=false
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
PROPS
}

up() {
	local t0=$SECONDS n
	if all_running; then
		log "already running at $ADDRS"
		set_env "$ENV_KEY" "$ADDRS"
		return 0
	fi
	[[ -n $(compgen -G "$LIB/kafka_*.jar") ]] || die "no Kafka jars in $LIB (deploy/dev/kafka.sh up installs them)"
	command -v java >/dev/null || die "java not found"
	for n in "${NODES[@]}"; do
		running "kafka-cluster-$n" && node_ok "$n" && continue
		port_open "$(client_port "$n")" && die "port $(client_port "$n") is taken by a process this project did not start"
		write_config "$n"
		if [[ ! -f $DIR/$n/data/meta.properties ]]; then
			"${JAVA[@]}" -Xmx256m kafka.tools.StorageTool format --cluster-id "$CLUSTER_ID" \
				--config "$DIR/$n/server.properties" >>"$OFS_DEV_DIR/log/kafka-cluster-$n.log" 2>&1 ||
				die "format of node $n failed (log: $OFS_DEV_DIR/log/kafka-cluster-$n.log)"
		fi
		start_bg "kafka-cluster-$n" "${JAVA[@]}" -Xms128m -Xmx320m -Dofs.dev.service=kafka-cluster-$n \
			kafka.Kafka "$DIR/$n/server.properties"
	done
	# A controller quorum elects only once two of three run: wait after starting all.
	for n in "${NODES[@]}"; do wait_healthy "kafka-cluster-$n" 180 node_ok "$n"; done
	local deadline=$((SECONDS + 120))
	until answers; do
		((SECONDS < deadline)) || die "the cluster does not count three brokers after 120s"
		sleep 2
	done
	set_env "$ENV_KEY" "$ADDRS"
	log "up at $ADDRS in $((SECONDS - t0))s"
}

down() {
	local n
	# All at once: a node stopping alone after the others has no controller
	# quorum for its controlled shutdown and waits out stop's 30 s.
	for n in "${NODES[@]}"; do stop "kafka-cluster-$n" & done
	wait
	unset_env "$ENV_KEY"
}

case ${1:-} in
up) up ;;
down) down ;;
status) if all_running; then echo "kafka-cluster: running at $ADDRS"; else echo "kafka-cluster: not running"; fi ;;
reset) down; rm -rf "${DIR:?}" ;;
*) die "usage: $0 up|down|status|reset" ;;
esac
