#!/bin/sh
# The tests start their own redis-server processes (single servers, a Cluster
# made with redis-cli, Sentinel); make sure both binaries exist.
set -e
command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "redis-server not found: installing Debian's redis-server package..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
    command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && exit 0
fi
echo "redis-server and redis-cli are needed by the tests: install them (e.g. 'sudo apt-get install redis-server' or 'brew install redis') and re-run make test." >&2
exit 1
