#!/usr/bin/env bash
# Runs the whole test suite. The tests use real tools (promtool, amtool, Prometheus, Alertmanager,
# node_exporter, busybox, wrk, tmux from Debian's packages) and the local Docker Engine; missing
# packages are installed first when running as root, otherwise the script says what to install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v prometheus-node-exporter >/dev/null || missing+=(prometheus-node-exporter)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v wrk >/dev/null || missing+=(wrk)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v tmux >/dev/null || missing+=(tmux)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
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

# The Python tools some tests run (Grafana's dashboard models, Kubernetes' schemas), pinned in
# tests/python/requirements.txt, in a virtual environment of their own; reinstalled only when
# that file changes.
venv=target/test-python
requirements=tests/python/requirements.txt
if ! cmp -s "$requirements" "$venv/installed.txt" 2>/dev/null; then
    echo ">> installing the Python test tools into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/installed.txt"
fi
export TEST_PYTHON="$PWD/$venv/bin/python"

exec cargo test --profile test-release --locked "$@"
