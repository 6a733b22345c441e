#!/usr/bin/env bash
# The demo: build a busybox image offline from Debian's busybox-static,
# then bring up the compose project in examples/demo on stack's own
# runtime — a web front with a healthcheck, a one-shot migration, and a
# worker that starts once the web front is healthy and the migration has
# completed — show it, and take it down again.
set -euo pipefail
cd "$(dirname "$0")/.."
stack=$PWD/bin/stack
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

./examples/busybox/mkrootfs.sh examples/out/busybox-rootfs.tar
run "$stack" image import -c 'CMD ["/bin/sh"]' examples/out/busybox-rootfs.tar demo/busybox:latest

cd examples/demo
"$stack" down >/dev/null 2>&1 || true
run "$stack" up -d --wait
run "$stack" ps -a
run "$stack" exec -T web wget -qO- http://127.0.0.1:8080/
run "$stack" port web 8080
run busybox wget -qO- http://127.0.0.1:18080/
run "$stack" exec -T worker nslookup web
run "$stack" logs --no-color
run "$stack" run --rm -T --no-deps migrate echo "a one-off container of the migrate service"
run "$stack" down
echo
echo "demo done: three services came up in dependency order on stack's own runtime and network, and went away again."
