#!/usr/bin/env python3
"""fault-timer.py kill|rm CONTAINER PORT PATH

Injects a fault through the Docker Engine API (kill: SIGKILL, as `docker kill`; rm: forced
removal, as `docker rm -f`) and prints the seconds until a container of that name runs again
(a new one, or the old one started again) and answers http://127.0.0.1:<its published PORT>PATH
with a 2xx. Polls every 25 ms; exits 1 after 60 s. The Engine is DOCKER_HOST (unix://) or
/var/run/docker.sock.
"""
import http.client
import json
import os
import socket
import sys
import time
import urllib.request

DEADLINE_SECONDS = 60
POLL_SECONDS = 0.025


class EngineConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=5)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect(self.socket_path)
        self.sock = sock


def engine_socket():
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return "/var/run/docker.sock"
    if not host.startswith("unix://"):
        sys.exit(f"fault-timer.py needs a unix:// DOCKER_HOST, not {host}")
    return host[len("unix://"):]


def engine(method, url):
    connection = EngineConnection(engine_socket())
    try:
        connection.request(method, url)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def inspect(name):
    status, body = engine("GET", f"/containers/{name}/json")
    return json.loads(body) if status == 200 else None


def answers(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as response:
            return 200 <= response.status < 300
    except Exception:
        return False


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("kill", "rm"):
        sys.exit(__doc__)
    fault, name, port, path = sys.argv[1:]
    before = inspect(name)
    if before is None or not before["State"]["Running"]:
        sys.exit(f"{name} is not running")
    started = time.monotonic()
    if fault == "kill":
        status, body = engine("POST", f"/containers/{name}/kill?signal=KILL")
    else:
        status, body = engine("DELETE", f"/containers/{name}?force=1")
    if status != 204:
        sys.exit(f"{fault} {name}: HTTP {status} {body!r}")
    while time.monotonic() - started < DEADLINE_SECONDS:
        now = inspect(name)
        fresh = now is not None and (
            now["Id"] != before["Id"] or now["State"]["StartedAt"] != before["State"]["StartedAt"]
        )
        if fresh and now["State"]["Running"]:
            bindings = (now["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
            if bindings and answers(bindings[0]["HostPort"], path):
                print(f"{time.monotonic() - started:.2f}")
                return
        time.sleep(POLL_SECONDS)
    sys.exit(f"{name} did not answer {path} within {DEADLINE_SECONDS} s after {fault}")


if __name__ == "__main__":
    main()
