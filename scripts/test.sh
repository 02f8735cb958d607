#!/usr/bin/env bash
# Runs the whole test suite. The tests use real tools (promtool, amtool, Prometheus, Alertmanager,
# busybox, wrk from Debian's packages) and the local Docker Engine; missing packages are installed
# first when running as root, otherwise the script says what to install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v wrk >/dev/null || missing+=(wrk)
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        echo ">> installing test dependencies: ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "error: the tests need these Debian packages: ${missing[*]}" >&2
        echo "       install them with: sudo apt-get install -y ${missing[*]}" >&2
        exit 2
    fi
fi

exec cargo test --profile test-release --locked "$@"
