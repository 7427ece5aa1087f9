#!/usr/bin/env bash
# The past-one-machine topology on loopback (issue 17): a Kafka cluster of
# three KRaft nodes (deploy/dev/kafka-cluster.sh: replication 3,
# min.insync.replicas 2), the Redis Cluster of three masters
# (deploy/dev/redis-cluster.sh) and etcd (deploy/dev/etcd.sh). It writes an
# ofs config for them to .dev/cluster/ofs.yaml and prints how to run the
# registry processor, three `ofs process ingest` and two `ofs serve` on it.
#   deploy/dev/cluster.sh up|down|status
# down stops the three brokers only: the Redis Cluster and etcd are shared
# with services:up and stay.
SERVICE=cluster
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE=$(dirname "${BASH_SOURCE[0]}")
CONF=$OFS_DEV_DIR/cluster/ofs.yaml

up() {
	bash "$HERE/kafka-cluster.sh" up
	bash "$HERE/redis-cluster.sh" up
	bash "$HERE/etcd.sh" up
	# shellcheck disable=SC1090
	source "$OFS_ENV_FILE"
	mkdir -p "$(dirname "$CONF")"
	cat >"$CONF" <<YAML
prefix: cluster
kafka:
  brokers: [${OFS_KAFKA_CLUSTER_BROKERS//,/, }]
  feature_partitions: 12
  replication: 3
  min_insync_replicas: 2
etcd:
  endpoints: [$OFS_ETCD_ENDPOINTS]
stores:
  default:
    redis:
      addrs: [${OFS_REDIS_CLUSTER_ADDRS//,/, }]
      key_prefix: "cluster:"
YAML
	cat <<TXT
The topology is up; its ofs config is $CONF. Run, each in its own terminal:
  export OFS_CONFIG=$CONF
  ofs topics ensure
  ofs process registry --metrics-addr 127.0.0.1:9201
  ofs process ingest --metrics-addr 127.0.0.1:9211   # three of them, in one consumer group:
  ofs process ingest --metrics-addr 127.0.0.1:9212   #   the 12 partitions of the features topic
  ofs process ingest --metrics-addr 127.0.0.1:9213   #   are shared between them
  ofs serve --grpc-addr 127.0.0.1:7071 --metrics-addr 127.0.0.1:9221
  ofs serve --grpc-addr 127.0.0.1:7072 --metrics-addr 127.0.0.1:9222
  ofs topics list --check      # under-replicated or offline partitions
Clients take both servers (the Go SDK round-robins and retries UNAVAILABLE on the next):
  127.0.0.1:7071,127.0.0.1:7072
TXT
}

case ${1:-} in
up) up ;;
down) bash "$HERE/kafka-cluster.sh" down ;;
status)
	bash "$HERE/kafka-cluster.sh" status
	bash "$HERE/redis-cluster.sh" status
	bash "$HERE/etcd.sh" status
	;;
*) die "usage: $0 up|down|status" ;;
esac
