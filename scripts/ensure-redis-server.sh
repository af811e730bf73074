#!/bin/sh
# The tests start their own redis-server processes; make sure the binary exists.
set -e
command -v redis-server >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "redis-server not found: installing Debian's redis-server package..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    command -v redis-server >/dev/null 2>&1 && exit 0
fi
echo "redis-server is needed by the tests: install it (e.g. 'sudo apt-get install redis-server' or 'brew install redis') and re-run make test." >&2
exit 1
