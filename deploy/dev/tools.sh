#!/usr/bin/env bash
# The Debian packages that development and tests use: redis-server (the Redis
# service and the tests that start private servers), kcat (the Kafka
# command-line client that docs/kafka.md and the tests use) and openssl (the
# dev Kafka's TLS certificates, and the Python TLS tests); chromium (the
# headless browser that the console's tests drive). Installs only what is
# missing, in one apt-get call; a no-op when everything is there.
#   deploy/dev/tools.sh
SERVICE=tools
# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v kcat >/dev/null || need+=(kcat)
command -v openssl >/dev/null || need+=(openssl)
command -v chromium >/dev/null || need+=(chromium)
((${#need[@]})) || exit 0

log "installing ${need[*]} from Debian"
apt_install tools-apt.log "${need[@]}"
