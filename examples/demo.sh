#!/usr/bin/env bash
# The demo: build the busybox image offline from Debian's busybox-static,
# import it, and run a web server container on stack's own runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
stack=./bin/stack
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

./examples/busybox/mkrootfs.sh examples/out/busybox-rootfs.tar
run $stack image import -c 'CMD ["/bin/sh"]' examples/out/busybox-rootfs.tar demo/busybox:latest
run $stack image ls
$stack container rm -f demo-web >/dev/null 2>&1 || true
run $stack container run -d --name demo-web --memory 64m --pids-limit 100 demo/busybox httpd -f -v -p 8080 -h /var/www
run $stack container ls
run $stack container exec demo-web wget -qO- http://127.0.0.1:8080/
run $stack container exec demo-web ps
run $stack container logs demo-web
run $stack container stop demo-web
run $stack container ls -a
run $stack container rm demo-web
echo
echo "demo done: the container ran in its own namespaces, cgroup and overlay root, supervised by its shim."
