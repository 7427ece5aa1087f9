#!/usr/bin/env bash
# Apache Cassandra 5.0 for development and tests: the CQL stand-in for
# ScyllaDB. One node on loopback with a small heap, run straight from the
# cassandra-all jar and its dependencies as Maven Central serves them (no
# tarball), with config, data and log under .dev/.
#   deploy/dev/cassandra.sh up|down|status|reset|nodetool ARGS...
#
# Environment (all optional):
#   OFS_CASSANDRA_PORT          CQL native port        (19042)
#   OFS_CASSANDRA_STORAGE_PORT  inter-node port        (17000, loopback only)
#   OFS_CASSANDRA_JMX_PORT      local-only JMX port    (17199)
#   OFS_CASSANDRA_HEAP          max heap, as for -Xmx  (1g; -Xms is 512m or less)
#   OFS_CASSANDRA_VERSION       cassandra-all version  (5.0.9)
#   OFS_CASSANDRA_TIMEOUT       start-up timeout, s    (180)
# Writes OFS_CASSANDRA_HOSTS=127.0.0.1:<port> to .dev/services.env once up, and
# OFS_CASSANDRA_CA, the CA of the node's certificate.
#
# As a managed ScyllaDB or Cassandra, the node wants a password (the default
# superuser, $CQL_USER / $CQL_PASSWORD) and takes TLS on the same port as plain
# text (client_encryption_options.optional), with a certificate of a CA made
# with openssl on the first start (.dev/cassandra/tls). A node started by an
# older version of this script, with another configuration, is restarted.
SERVICE=cassandra
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=${OFS_CASSANDRA_VERSION:-5.0.9}
PORT=${OFS_CASSANDRA_PORT:-19042}
STORAGE_PORT=${OFS_CASSANDRA_STORAGE_PORT:-17000}
JMX_PORT=${OFS_CASSANDRA_JMX_PORT:-17199}
HEAP=${OFS_CASSANDRA_HEAP:-1g}
TIMEOUT=${OFS_CASSANDRA_TIMEOUT:-180}
HOST=127.0.0.1
ADDR=$HOST:$PORT
ENV_KEY=OFS_CASSANDRA_HOSTS
CA_ENV_KEY=OFS_CASSANDRA_CA
# The default superuser of PasswordAuthenticator (a dev secret, loopback only).
CQL_USER=cassandra
CQL_PASSWORD=cassandra
DIR=$OFS_DEV_DIR/cassandra
TLS=$DIR/tls
CONF=$DIR/conf
DATA=$DIR/data
LOG=$OFS_DEV_DIR/log/cassandra.log
READY_LINE='Starting listening for CQL clients'

# ours: the recorded pid is alive and is a Cassandra JVM. A pid file left
# behind by a crash whose pid was reused by something else is dropped, so
# that `stop` never signals a stranger.
ours() {
	running cassandra || return 1
	local pid; pid=$(cat "$(pidfile cassandra)")
	if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'org.apache.cassandra.service.CassandraDaemon'; then
		log "pid file names pid $pid, which is not Cassandra; dropping it"
		rm -f "$(pidfile cassandra)"
		return 1
	fi
}

# cql_version: speak the CQL native protocol (v4) in plain bash: STARTUP (and,
# when the server asks, SASL PLAIN as $CQL_USER), then SELECT release_version
# FROM system.local, and print the version. Fails unless the server answers
# READY (or AUTH_SUCCESS) and then a ROWS result. No driver needed.
cql_version() (
	LC_ALL=C
	set +e
	exec 3<>"/dev/tcp/$HOST/$PORT" || exit 1
	# read_frame: read one response frame from fd 3 into OPCODE (a number) and
	# BODY (printable bytes kept, every other byte as a space).
	read_frame() {
		local i c h hdr=() len
		for ((i = 0; i < 9; i++)); do
			IFS= read -r -d '' -n 1 -t 10 -u 3 c || return 1
			if [[ -z $c ]]; then hdr+=(0); else printf -v h '%d' "'$c"; hdr+=("$h"); fi
		done
		OPCODE=${hdr[4]}
		len=$(((hdr[5] << 24) | (hdr[6] << 16) | (hdr[7] << 8) | hdr[8]))
		((len >= 0 && len < 1048576)) || return 1
		BODY=
		for ((i = 0; i < len; i++)); do
			IFS= read -r -d '' -n 1 -t 10 -u 3 c || return 1
			if [[ $c == [[:print:]] ]]; then BODY+=$c; else BODY+=' '; fi
		done
	}
	be32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
	# STARTUP {CQL_VERSION: 3.0.0} on stream 1; the answer must be READY (2),
	# or AUTHENTICATE (3): then AUTH_RESPONSE (15) with the SASL PLAIN token
	# "\0user\0password" on stream 3, answered by AUTH_SUCCESS (16).
	printf '\x04\x00\x00\x01\x01\x00\x00\x00\x16\x00\x01\x00\x0bCQL_VERSION\x00\x053.0.0' >&3
	read_frame || exit 1
	if ((OPCODE == 3)); then
		local tlen=$((2 + ${#CQL_USER} + ${#CQL_PASSWORD}))
		# shellcheck disable=SC2059 # the format is built from byte escapes on purpose
		printf "\\x04\\x00\\x00\\x03\\x0f$(be32 $((tlen + 4)))$(be32 "$tlen")\\x00%s\\x00%s" "$CQL_USER" "$CQL_PASSWORD" >&3
		read_frame || exit 1
		((OPCODE == 16)) || exit 1
	else
		((OPCODE == 2)) || exit 1
	fi
	# QUERY at consistency ONE, no flags, on stream 2; the answer must be
	# RESULT (8) of kind ROWS holding a version.
	query='SELECT release_version FROM system.local'
	n=${#query}
	# shellcheck disable=SC2059 # the format is built from byte escapes on purpose
	printf "\\x04\\x00\\x00\\x02\\x07$(be32 $((n + 7)))$(be32 "$n")%s\\x00\\x01\\x00" "$query" >&3
	read_frame || exit 1
	((OPCODE == 8)) || exit 1
	[[ $BODY =~ release_version[^0-9]*([0-9]+\.[0-9]+(\.[0-9]+)?) ]] || exit 1
	echo "${BASH_REMATCH[1]}"
)

healthy() { port_open "$PORT" && cql_version >/dev/null; }

# started: the start-up of the process we launched reached the point where
# CQL clients are served, and a real query answers.
started() { grep -q "$READY_LINE" "$LOG" 2>/dev/null && healthy; }

# port_owner PORT: describe who listens on PORT, for error messages.
port_owner() {
	command -v ss >/dev/null || { echo "unknown process"; return 0; }
	ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(.*)' | head -n 1 || true
}

install() {
	# A different version than the one installed: fetch afresh.
	if [[ -f $DIR/lib/.done && ! -f $DIR/lib/cassandra-all-$VERSION.jar ]]; then
		log "installed jars are not cassandra-all $VERSION; fetching again"
		rm -rf "${DIR:?}/lib"
	fi
	# cassandra-all brings its logging binding (logback-classic) and the jamm
	# agent jar along as runtime dependencies; nothing else is needed.
	mvn_fetch "$DIR" "org.apache.cassandra:cassandra-all:$VERSION"
	[[ -f $DIR/lib/cassandra-all-$VERSION.jar ]] || die "no cassandra-all-$VERSION.jar in $DIR/lib after maven"
}

# write_config FILE: the node's cassandra.yaml, as this script wants it now
# (logback.xml goes next to it).
write_config() {
	mkdir -p "$CONF" "$DIR/triggers" "$DATA"/{data,commitlog,saved_caches,hints,cdc_raw}
	cat >"$1" <<YAML
# Written by deploy/dev/cassandra.sh on every start; edit the script instead.
# A single development node on loopback, sized for a small shared machine.
cluster_name: ofs-dev
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
# One token, fixed, and no bootstrap: the node owns the whole ring from the first start.
num_tokens: 1
initial_token: 0
auto_bootstrap: false
# Full 5.0 sstable and feature set (this node never had to talk to 4.x).
storage_compatibility_mode: NONE

listen_address: $HOST
rpc_address: $HOST
storage_port: $STORAGE_PORT
start_native_transport: true
native_transport_port: $PORT
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$HOST:$STORAGE_PORT"

authenticator: PasswordAuthenticator
role_manager: CassandraRoleManager
authorizer: AllowAllAuthorizer
client_encryption_options:
  enabled: true
  optional: true
  ssl_context_factory:
    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory
  keystore: $TLS/keystore.pem

data_file_directories:
  - $DATA/data
commitlog_directory: $DATA/commitlog
saved_caches_directory: $DATA/saved_caches
hints_directory: $DATA/hints
cdc_raw_directory: $DATA/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 32MiB
disk_access_mode: mmap_index_only

# Small: tests write little, and the machine is shared.
memtable_heap_space: 128MiB
memtable_offheap_space: 64MiB
memtable_flush_writers: 1
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 4
concurrent_materialized_view_writes: 4
concurrent_compactors: 1
compaction_throughput: 64MiB/s
native_transport_max_threads: 32
key_cache_size: 16MiB
counter_cache_size: 4MiB
file_cache_size: 64MiB
prepared_statements_cache_size: 16MiB

# Tests drop and truncate tables often: no snapshots for that.
auto_snapshot: false
# ScyllaDB serves materialized views by default; so does this stand-in.
materialized_views_enabled: true
YAML
	cat >"$CONF/logback.xml" <<'XML'
<!-- Written by deploy/dev/cassandra.sh. Everything goes to stdout, which the
     dev scripts send to .dev/log/cassandra.log: Cassandra at INFO, its
     libraries at WARN. -->
<configuration scan="false">
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder>
      <pattern>%d{yyyy-MM-dd HH:mm:ss.SSS} %-5level [%thread] %logger{1} - %msg%n</pattern>
    </encoder>
  </appender>
  <logger name="org.apache.cassandra" level="INFO"/>
  <root level="WARN">
    <appender-ref ref="STDOUT"/>
  </root>
</configuration>
XML
}

# JPMS: the module exports and opens that Cassandra's classes (server and
# tools) need on Java 17.
JPMS=(
	--add-exports java.base/jdk.internal.misc=ALL-UNNAMED
	--add-exports java.base/jdk.internal.ref=ALL-UNNAMED
	--add-exports java.base/sun.nio.ch=ALL-UNNAMED
	--add-exports java.base/java.lang.ref=ALL-UNNAMED
	--add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
	--add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
	--add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
	--add-exports java.sql/java.sql=ALL-UNNAMED
	--add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
	--add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
	--add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
	--add-opens java.base/java.lang=ALL-UNNAMED
	--add-opens java.base/java.lang.module=ALL-UNNAMED
	--add-opens java.base/java.lang.reflect=ALL-UNNAMED
	--add-opens java.base/java.io=ALL-UNNAMED
	--add-opens java.base/java.util=ALL-UNNAMED
	--add-opens java.base/jdk.internal.loader=ALL-UNNAMED
	--add-opens java.base/jdk.internal.ref=ALL-UNNAMED
	--add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
	--add-opens java.base/jdk.internal.math=ALL-UNNAMED
	--add-opens java.base/jdk.internal.module=ALL-UNNAMED
	--add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
	--add-opens java.base/sun.nio.ch=ALL-UNNAMED
	--add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
	--add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
)

# JVM flags of the server: a small G1 heap, JPMS, and the system properties
# that make a lone node start fast.
jvm_args() {
	local xms=512m
	# -Xms must not exceed -Xmx when the heap is set small.
	[[ $HEAP =~ ^([0-9]+)[mM]$ ]] && ((BASH_REMATCH[1] < 512)) && xms=$HEAP
	local jamm; jamm=$(compgen -G "$DIR/lib/jamm-*.jar" | head -n 1 || true)
	JVM_ARGS=(
		"-Xms$xms" "-Xmx$HEAP" -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxGCPauseMillis=300
		-XX:+ExitOnOutOfMemoryError -XX:+PerfDisableSharedMem -Djava.net.preferIPv4Stack=true
		-Djdk.attach.allowAttachSelf=true "${JPMS[@]}"
		-Dio.netty.tryReflectionSetAccessible=true
		-Dio.netty.allocator.useCacheForAllThreads=true
		-Dio.netty.allocator.maxOrder=11
	)
	# jamm measures object sizes for memtable accounting; as an agent it uses
	# java.lang.instrument, as the tarball's start script arranges.
	[[ -n $jamm ]] && JVM_ARGS+=("-javaagent:$jamm")
	JVM_ARGS+=(
		-Dcassandra-foreground=yes
		"-Dcassandra.config=file://$CONF/cassandra.yaml"
		"-Dcassandra.storagedir=$DATA"
		"-Dcassandra.logdir=$OFS_DEV_DIR/log"
		"-Dcassandra.triggers_dir=$DIR/triggers"
		"-Dlogback.configurationFile=$CONF/logback.xml"
		"-Dcassandra.jmx.local.port=$JMX_PORT"
		-Djava.rmi.server.hostname=127.0.0.1
		-Dcassandra.skip_wait_for_gossip_to_settle=0
		-Dcassandra.ring_delay_ms=1000
		-Dcassandra.superuser_setup_delay_ms=1000
		-cp "$CONF:$DIR/lib/*"
		org.apache.cassandra.service.CassandraDaemon
	)
}

up() {
	local t0=$SECONDS
	# One `up` at a time: a second one waits here, then finds the node up.
	exec 8>"$OFS_DEV_DIR/run/cassandra.lock"
	flock -w $((TIMEOUT + 600)) 8 || die "another '$0 up' holds $OFS_DEV_DIR/run/cassandra.lock"
	dev_tls "$TLS" "Cassandra node"
	if ours; then
		write_config "$CONF/cassandra.yaml.want"
		if ! cmp -s "$CONF/cassandra.yaml.want" "$CONF/cassandra.yaml"; then
			log "the node's configuration changed (a newer cassandra.sh); restarting it"
			down
		fi
	fi
	if ours; then
		if healthy; then
			log "already running at $ADDR"
			set_env "$ENV_KEY" "$ADDR"
			set_env "$CA_ENV_KEY" "$TLS/ca.pem"
			return 0
		fi
		# Ours but not answering here. Started with other ports (the config is
		# written at each start, so it tells which)? Then waiting is pointless.
		local running_port
		running_port=$(sed -n 's/^native_transport_port: *//p' "$CONF/cassandra.yaml" 2>/dev/null || true)
		[[ -z $running_port || $running_port == "$PORT" ]] ||
			die "our Cassandra runs with CQL port $running_port, not $PORT; run '$0 down' first"
		# Otherwise it is most likely still starting (another `up` launched it):
		# wait for it rather than start a second one.
		log "already started (pid $(cat "$(pidfile cassandra)")), waiting for it to serve CQL"
		wait_healthy cassandra "$TIMEOUT" healthy
		set_env "$ENV_KEY" "$ADDR"
		set_env "$CA_ENV_KEY" "$TLS/ca.pem"
		log "up at $ADDR in $((SECONDS - t0))s"
		return 0
	fi
	local p
	for p in "$PORT" "$STORAGE_PORT" "$JMX_PORT"; do
		port_open "$p" && die "port $p is taken by a process this project did not start ($(port_owner "$p")); stop it or set OFS_CASSANDRA_PORT / OFS_CASSANDRA_STORAGE_PORT / OFS_CASSANDRA_JMX_PORT"
	done
	command -v java >/dev/null || die "java not found (Cassandra $VERSION needs Java 11 or 17)"
	install
	write_config "$CONF/cassandra.yaml"
	jvm_args
	log "starting Cassandra $VERSION (log: $LOG)"
	# Cassandra calls mlockall(MCL_CURRENT) at start. As root (CAP_IPC_LOCK)
	# that succeeds and pins the whole committed heap: ~1 GiB resident instead
	# of ~0.55 GiB. Start it without that capability, as any non-root user
	# runs it: the call then fails with one WARN line. There is no swap to
	# protect against here. setpriv execs java, so the recorded pid is java's.
	local launcher=()
	if ((EUID == 0)) && command -v setpriv >/dev/null; then
		launcher=(setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock)
	fi
	# 8>&-: the JVM must not inherit (and so keep holding) the lock.
	{ start_bg cassandra "${launcher[@]}" java "${JVM_ARGS[@]}"; } 8>&-
	wait_healthy cassandra "$TIMEOUT" started
	set_env "$ENV_KEY" "$ADDR"
	set_env "$CA_ENV_KEY" "$TLS/ca.pem"
	log "up at $ADDR (Cassandra $(cql_version)) in $((SECONDS - t0))s"
}

down() {
	ours || true # drops a pid file that does not name Cassandra
	stop cassandra "$ENV_KEY"
	unset_env "$CA_ENV_KEY"
}

# nodetool ARGS...: Cassandra's admin tool against our node, over the
# loopback-only JMX port (say `nodetool flush`, `nodetool tablestats KS`).
nodetool() {
	ours || die "not running"
	# user.home: nodetool keeps a history file under ~/.cassandra; keep it in .dev.
	java -Xmx128m "${JPMS[@]}" "-Duser.home=$DIR" "-Dcassandra.logdir=$OFS_DEV_DIR/log" \
		"-Dlogback.configurationFile=$CONF/logback.xml" -cp "$CONF:$DIR/lib/*" \
		org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p "$JMX_PORT" "$@"
}

status() {
	local v
	if ours && v=$(cql_version); then
		echo "cassandra: running at $ADDR (Cassandra $v, pid $(cat "$(pidfile cassandra)"))"
	elif ours; then
		echo "cassandra: started (pid $(cat "$(pidfile cassandra)")) but not answering CQL at $ADDR yet"
	else
		echo "cassandra: not running"
	fi
}

case ${1:-} in
up) up ;;
down) down ;;
status) status ;;
nodetool) shift; nodetool "$@" ;;
reset) down && rm -rf "$DATA" && log "data wiped" ;;
*) die "usage: $0 up|down|status|reset|nodetool ARGS..." ;;
esac
