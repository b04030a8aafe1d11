#!/usr/bin/env python3
"""The engine's own share of `docker run --rm busybox true`: the API calls the docker CLI
makes (create, wait for removal, start), timed from the create request to the wait's
answer over kept-alive connections, so no client start-up is counted. Prints the median
in milliseconds of N runs.

    bench/api-run.py SOCKET [N] [RUNTIME] [NETWORK]

RUNTIME is a runtime name registered with the daemon (`--runtime`), NETWORK a network
mode (`--network`: none, bridge, ...); the defaults when not given or empty.
"""
import http.client
import json
import socket
import statistics
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def call(conn, method, path, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300 and not (r.status == 404 and "/wait" in path):
        sys.exit(f"{method} {path}: {r.status} {data!r}")
    return data


def one_run(api, waiter, runtime, network):
    host_config = {"AutoRemove": True}
    if runtime:
        host_config["Runtime"] = runtime
    if network:
        host_config["NetworkMode"] = network
    t = time.perf_counter()
    created = json.loads(call(api, "POST", "/containers/create",
                              {"Image": "busybox", "Cmd": ["true"], "HostConfig": host_config}))
    cid = created["Id"]
    # As the CLI does: the wait is asked before the start, and answered once removed.
    waiter.request("POST", f"/containers/{cid}/wait?condition=removed")
    call(api, "POST", f"/containers/{cid}/start")
    r = waiter.getresponse()
    r.read()
    return (time.perf_counter() - t) * 1000


def main():
    sock = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    runtime = sys.argv[3] if len(sys.argv) > 3 else None
    network = sys.argv[4] if len(sys.argv) > 4 else None
    api, waiter = UnixConnection(sock), UnixConnection(sock)
    one_run(api, waiter, runtime, network)  # warm caches
    times = [one_run(api, waiter, runtime, network) for _ in range(n)]
    print(f"{statistics.median(times):.1f}")


if __name__ == "__main__":
    main()
