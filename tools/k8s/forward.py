"""A loopback TCP forwarder from the host into the node's network namespace.

The cluster lives in its own network namespace; the host reaches its API server and registry only
through this process: it listens on 127.0.0.1:PORT of the host and connects to 127.0.0.1:PORT
inside the namespace (one thread enters the namespace with setns(2) and opens every upstream
socket there; a socket keeps the namespace it was created in). No address outside loopback is
ever involved.

Started inside the namespace itself (nsenter, as the local platform does for argocd-server), it
listens on an address of the namespace (`--listen-host`, e.g. the node address) instead: a fixed
address there in front of a Service whose cluster IP changes with every cluster.

    python -m tools.k8s.forward --netns NAME --port PORT [--target-port PORT] [--target-host IP]
                                [--listen-host IP] --tag STATE_DIR
"""

from __future__ import annotations

import argparse
import ctypes
import os
import queue
import signal
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000


def _enter_netns(netns: str) -> None:
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into {netns}: {os.strerror(errno)}")
    finally:
        os.close(fd)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(netns: str, port: int, target_port: int, target_host: str = "127.0.0.1",
          listen_host: str = "127.0.0.1") -> None:
    requests: queue.Queue[queue.Queue] = queue.Queue()
    ready = threading.Event()
    failure: list[BaseException] = []

    def connector() -> None:
        try:
            _enter_netns(netns)
        except OSError as error:
            failure.append(error)
            ready.set()
            return
        ready.set()
        while True:
            reply = requests.get()
            try:
                upstream = socket.create_connection((target_host, target_port), timeout=10)
                upstream.settimeout(None)
                reply.put(upstream)
            except OSError as error:
                reply.put(error)

    threading.Thread(target=connector, daemon=True, name="netns-connector").start()
    ready.wait()
    if failure:
        raise failure[0]

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((listen_host, port))
    listener.listen(256)

    def handle(client: socket.socket) -> None:
        reply: queue.Queue = queue.Queue(maxsize=1)
        requests.put(reply)
        upstream = reply.get()
        if isinstance(upstream, BaseException):
            client.close()
            return
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream)
        back.join()
        client.close()
        upstream.close()

    while True:
        client, _ = listener.accept()
        threading.Thread(target=handle, args=(client,), daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.k8s.forward", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--netns", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target-port", type=int)
    # An address inside the namespace (its loopback by default, or e.g. a Service's cluster IP).
    parser.add_argument("--target-host", default="127.0.0.1")
    # Where to listen: the host's loopback by default (or, started inside the namespace, its address).
    parser.add_argument("--listen-host", default="127.0.0.1")
    # Only there so the process can be found by its command line (the state directory).
    parser.add_argument("--tag", required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve(args.netns, args.port, args.target_port or args.port, args.target_host, args.listen_host)
    except OSError as error:
        print(f"forward: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
