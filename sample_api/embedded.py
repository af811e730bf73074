"""Embedded defaults: moto's DynamoDB server, started in-process on a free
loopback port, so boto3 talks real HTTP to it with nothing to install."""

from __future__ import annotations

import os
import socket
import threading

_started = threading.Lock()
_server = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def use_fake_aws_credentials() -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "sample", "AWS_SECRET_ACCESS_KEY": "sample",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(name, value)


def start_moto(port: int) -> None:
    """Start moto's DynamoDB server on 127.0.0.1:``port`` once per process."""
    global _server
    with _started:
        if _server is not None:
            return
        from moto.server import ThreadedMotoServer

        _server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        _server.start()
