#!/usr/bin/env bash
# Apache Kafka for development and tests: one KRaft node (broker and controller
# in the same JVM) on loopback, built from Maven Central jars (no tarball).
#   deploy/dev/kafka.sh up|down|status|reset
#
#   up      install (first run only), format the storage (first run only), start,
#           wait until the broker answers, write OFS_KAFKA_BROKERS (and the
#           SASL_SSL listener's OFS_KAFKA_SASL_SSL_BROKERS and OFS_KAFKA_CA) to
#           services.env. A no-op when our broker is already up with the same
#           configuration; restarts it when the configuration changed.
#   down    stop the broker this project started (by pid) and drop OFS_KAFKA_BROKERS.
#   status  print whether it runs and where; exit 0 when running, 3 when not.
#   reset   down, then wipe the data dir (topics and offsets); the next up formats anew.
#
# Ports: OFS_KAFKA_PORT (plain-text client listener, default 19092),
# OFS_KAFKA_CONTROLLER_PORT (KRaft controller listener, default 19093) and
# OFS_KAFKA_SASL_PORT (SASL over TLS, default 19094: the shape of a managed Kafka).
# The SASL_SSL listener takes PLAIN (one user, $PLAIN_USER, password $PLAIN_PASSWORD)
# and SCRAM-SHA-256/512 (users that tests create through the Admin API); its
# certificate is signed by a CA of this dev setup, made with openssl on first up.
# Layout: .dev/kafka/{lib,config,data,tls}, log in .dev/log/kafka.log.
SERVICE=kafka
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION=4.1.1
# Kafka logs through slf4j 1.7 (and log4j2 directly); its POM ships log4j-api and
# log4j-core but no slf4j binding, so without this one the broker logs nothing.
LOG4J_VERSION=2.24.3
ARTIFACTS=(
	"org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
	# Admin command-line classes (ClusterTool for the health check, TopicCommand,
	# console producer/consumer); the broker itself does not need them.
	"org.apache.kafka:kafka-tools:$KAFKA_VERSION"
	"org.apache.logging.log4j:log4j-slf4j-impl:$LOG4J_VERSION"
)
# Fixed cluster id: base64url of "ofs-dev-kafka-01" (a valid 16-byte Kafka Uuid).
CLUSTER_ID=b2ZzLWRldi1rYWZrYS0wMQ
NODE_ID=1

PORT=${OFS_KAFKA_PORT:-19092}
CONTROLLER_PORT=${OFS_KAFKA_CONTROLLER_PORT:-19093}
SASL_PORT=${OFS_KAFKA_SASL_PORT:-19094}
ADDR=127.0.0.1:$PORT
SASL_ADDR=127.0.0.1:$SASL_PORT
ENV_KEY=OFS_KAFKA_BROKERS
SASL_ENV_KEY=OFS_KAFKA_SASL_SSL_BROKERS
CA_ENV_KEY=OFS_KAFKA_CA
# The PLAIN user of the SASL_SSL listener (a dev secret, on loopback only).
PLAIN_USER=ofs-plain
PLAIN_PASSWORD=ofs-plain-secret
START_TIMEOUT=120

DIR=$OFS_DEV_DIR/kafka
LIB=$DIR/lib
CONF=$DIR/config
DATA=$DIR/data
TLS=$DIR/tls
LOG=$OFS_DEV_DIR/log/kafka.log
# Marks the broker JVM's command line so a recycled pid is never mistaken for ours.
MARK=-Dofs.dev.service=kafka

now_ms() { date +%s%3N; }
elapsed() { local ms=$(($(now_ms) - $1)); printf '%d.%01ds' $((ms / 1000)) $((ms % 1000 / 100)); }

# pid recorded for kafka, empty when none.
recorded_pid() {
	local f; f=$(pidfile kafka)
	if [[ -s $f ]]; then cat "$f"; fi
}

# ours PID: PID is alive and is the broker JVM this script started.
ours() {
	[[ -n ${1:-} && -r /proc/$1/cmdline ]] || return 1
	tr '\0' '\n' <"/proc/$1/cmdline" | grep -qxF -- "$MARK"
}

# listeners PORT: pids listening on 127.0.0.1/any:PORT (needs ss; root sees all).
listeners() {
	command -v ss >/dev/null || return 0
	ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
}

# port_taken_by_other PORT PID: something that is not PID accepts on PORT.
port_taken_by_other() {
	local port=$1 pid=${2:-} p found=1
	port_open "$port" || return 1
	for p in $(listeners "$port"); do
		[[ $p == "$pid" ]] && return 1
		found=0
	done
	# ss gave no owner (not visible to us): the port is open and not provably ours.
	return "$found"
}

# started: our broker listens on both ports and logged that start-up finished.
# Cheap (no JVM), used for the idempotency check and while waiting.
started() {
	local pid; pid=$(recorded_pid)
	ours "$pid" && port_open "$PORT" && port_open "$CONTROLLER_PORT" && port_open "$SASL_PORT" &&
		! port_taken_by_other "$PORT" "$pid" &&
		grep -q 'Kafka Server started' "$LOG" 2>/dev/null
}

# JVM for Kafka's command-line classes: small, quick to start, quiet logging.
TOOL_JAVA=(java -Xms64m -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
	"-Dlog4j2.configurationFile=$CONF/tools-log4j2.xml" -cp "$LIB/*")

# answers: the broker serves a real request (DescribeCluster through the Admin
# client) and reports our cluster id, so it is our node and not a stranger.
answers() {
	local out
	out=$(timeout 60 "${TOOL_JAVA[@]}" org.apache.kafka.tools.ClusterTool cluster-id --bootstrap-server "$ADDR" 2>&1) || {
		log "metadata request failed: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
		return 1
	}
	[[ $out == *"Cluster ID: $CLUSTER_ID"* ]] || { log "unexpected answer: $out"; return 1; }
}

# write_config FILE: the broker's configuration, as this script wants it now.
write_config() {
	mkdir -p "$CONF" "$DATA"
	cat >"$1" <<EOF
# Generated by deploy/dev/kafka.sh on every up; edit the script, not this file.
process.roles=broker,controller
node.id=$NODE_ID
controller.quorum.voters=$NODE_ID@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT,SASL_SSL://127.0.0.1:$SASL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_SSL://127.0.0.1:$SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$PLAIN_USER="$PLAIN_PASSWORD";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$TLS/keystore.pem
log.dirs=$DATA
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
}

# write_logging: the log4j2 configurations of the broker and of the tools.
write_logging() {
	# Broker: everything to stdout, which start_bg sends to .dev/log/kafka.log.
	cat >"$CONF/log4j2.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <Console name="out" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="info"><AppenderRef ref="out"/></Root>
    <Logger name="kafka.request.logger" level="warn"/>
    <Logger name="kafka.authorizer.logger" level="warn"/>
    <Logger name="state.change.logger" level="warn"/>
    <Logger name="org.apache.kafka.clients" level="warn"/>
  </Loggers>
</Configuration>
EOF
	# Command-line tools: warnings only, to stderr.
	cat >"$CONF/tools-log4j2.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <Console name="err" target="SYSTEM_ERR">
      <PatternLayout pattern="%p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="warn"><AppenderRef ref="err"/></Root>
  </Loggers>
</Configuration>
EOF
}

format_storage() {
	[[ -f $DATA/meta.properties ]] && return 0
	log "formatting $DATA (cluster id $CLUSTER_ID)"
	"${TOOL_JAVA[@]}" kafka.tools.StorageTool format --cluster-id "$CLUSTER_ID" \
		--config "$CONF/server.properties" >"$OFS_DEV_DIR/log/kafka-format.log" 2>&1 ||
		{ tail -n 20 "$OFS_DEV_DIR/log/kafka-format.log" >&2; die "formatting the storage failed"; }
}

# The port the running broker was configured with (from the config it started with).
configured_port() {
	sed -n 's|^advertised.listeners=PLAINTEXT://127.0.0.1:\([0-9]*\).*|\1|p' "$CONF/server.properties" 2>/dev/null || true
}

publish_env() {
	set_env "$ENV_KEY" "$ADDR"
	set_env "$SASL_ENV_KEY" "$SASL_ADDR"
	set_env "$CA_ENV_KEY" "$TLS/ca.pem"
}

up() {
	local t0 pid p
	t0=$(now_ms)
	pid=$(recorded_pid)
	if [[ -n $pid ]] && ! ours "$pid"; then
		log "dropping stale pid file (pid $pid is gone or not our broker)"
		rm -f "$(pidfile kafka)"
		pid=
	fi
	if [[ -n $pid ]]; then
		p=$(configured_port)
		[[ -z $p || $p == "$PORT" ]] ||
			die "our broker (pid $pid) runs on port $p, not $PORT; run '$0 down' first"
		dev_tls "$TLS" "Kafka broker"
		write_config "$CONF/server.properties.want"
		if ! cmp -s "$CONF/server.properties.want" "$CONF/server.properties"; then
			log "the broker's configuration changed (a newer kafka.sh); restarting it"
			down
			pid=
		fi
	fi
	if [[ -n $pid ]]; then
		if ! started; then
			log "broker (pid $pid) is running but not ready yet; waiting"
			wait_healthy kafka "$START_TIMEOUT" started
			answers || die "broker (pid $pid) does not answer; see $LOG, or run '$0 down'"
		fi
		publish_env
		log "already running at $ADDR (pid $pid), nothing to do ($(elapsed "$t0"))"
		return 0
	fi

	for p in "$PORT" "$CONTROLLER_PORT" "$SASL_PORT"; do
		if port_open "$p"; then
			die "port $p is already in use by a process this project did not start" \
				"(pid(s): $(listeners "$p" | paste -sd' ')); stop it or set OFS_KAFKA_PORT / OFS_KAFKA_CONTROLLER_PORT / OFS_KAFKA_SASL_PORT"
		fi
	done

	command -v java >/dev/null || die "java not found (Kafka $KAFKA_VERSION needs Java 17+)"
	mvn_fetch "$DIR" "${ARTIFACTS[@]}"
	dev_tls "$TLS" "Kafka broker"
	write_config "$CONF/server.properties"
	write_logging
	format_storage
	local parts
	parts=$(find "$DATA" -mindepth 1 -maxdepth 1 -type d -name '*-[0-9]*' | wc -l)
	if ((parts > 2000)); then
		# Tests delete their topics when they pass; failed ones and older
		# runs leave theirs, and the broker loads every one at start.
		log "note: $DATA holds $parts partitions; loading them slows the start (here, about a minute per 2,000)." \
			"'$0 reset' wipes the topics of earlier test runs"
	fi

	log "starting Kafka $KAFKA_VERSION (KRaft, node $NODE_ID) at $ADDR, controller 127.0.0.1:$CONTROLLER_PORT"
	# 8>&-: the JVM must not inherit the lock taken in main.
	start_bg kafka java -Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true "$MARK" \
		-Dlog4j2.configurationFile="$CONF/log4j2.xml" \
		-cp "$LIB/*" kafka.Kafka "$CONF/server.properties" 8>&-
	pid=$(recorded_pid)
	wait_healthy kafka "$START_TIMEOUT" started
	local tries=0
	until answers; do
		tries=$((tries + 1))
		((tries < 5)) || die "broker (pid $pid) logged start-up but does not answer; see $LOG"
		running kafka || die "broker exited; see $LOG"
		sleep 2
	done
	publish_env
	log "up at $ADDR, SASL_SSL at $SASL_ADDR (pid $pid) in $(elapsed "$t0")"
}

down() {
	local pid; pid=$(recorded_pid)
	if [[ -n $pid ]] && ! ours "$pid"; then
		# Never signal a process (group) that merely reuses our old pid.
		log "pid $pid is gone or not our broker; dropping the stale pid file"
		rm -f "$(pidfile kafka)"
		unset_env "$ENV_KEY"
		unset_env "$SASL_ENV_KEY"
		unset_env "$CA_ENV_KEY"
		return 0
	fi
	stop kafka "$ENV_KEY"
	unset_env "$ENV_KEY" # also when there was no pid file (stop returns early then)
	unset_env "$SASL_ENV_KEY"
	unset_env "$CA_ENV_KEY"
	if [[ -n $pid ]]; then
		for _ in $(seq 1 10); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
		kill -0 "$pid" 2>/dev/null && die "broker pid $pid is still alive after stop"
		log "stopped (pid $pid is gone)"
	fi
	return 0
}

status() {
	local pid; pid=$(recorded_pid)
	if ours "$pid" && started; then
		echo "kafka: running at $ADDR (pid $pid, controller 127.0.0.1:$CONTROLLER_PORT, SASL_SSL $SASL_ADDR)"
	elif ours "$pid"; then
		echo "kafka: starting or unhealthy at $ADDR (pid $pid), log $LOG"
		return 3
	else
		echo "kafka: not running"
		return 3
	fi
}

reset() {
	down
	log "wiping $DATA"
	rm -rf "$DATA"
}

main() {
	case ${1:-} in
	up | down | reset)
		# One up/down/reset at a time; status needs no lock.
		exec 8>"$OFS_DEV_DIR/run/kafka.lock"
		flock -w 300 8 || die "another '$0' is still running"
		"$1"
		;;
	status) status ;;
	*) die "usage: $0 up|down|status|reset" ;;
	esac
}

main "$@"
