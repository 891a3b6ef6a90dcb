"""Serving the sandbox on its own port, at the root, with Meta's paths (`run_sandbox`).

A threaded WSGI server (one thread per connection, like Django's runserver) around a
WSGI handler that resolves every request with the sandbox's own URLconf, so the rest of
the process keeps settings.ROOT_URLCONF untouched (tests can run it in a thread).
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.db import connections
from django.http import HttpResponse

STANDALONE_URLCONF = "integrations.sandbox.standalone_urls"
logger = logging.getLogger("integrations.sandbox.server")


class SandboxWSGIHandler(WSGIHandler):
    def get_response(self, request: WSGIRequest) -> HttpResponse:
        request.urlconf = STANDALONE_URLCONF
        return super().get_response(request)


class QuietRequestHandler(WSGIRequestHandler):
    """Logs method, path and status only: Graph GET query strings carry access tokens."""

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        logger.info("%s %s %s", self.command, path, code)


class SandboxServer(ThreadedWSGIServer):
    daemon_threads = True
    # Benchmarks open several connections at once; the default backlog of 5 drops some.
    request_queue_size = 64

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, client_address = super().get_request()
        if connection.family in (socket.AF_INET, socket.AF_INET6):
            # wsgiref writes the status line, the headers and the body in separate small
            # sends; with Nagle's algorithm on, the second one waits for the client's
            # delayed ACK (40 ms on Linux) before leaving: 40 ms added to every answer, as
            # much as the whole work of a 10,000-row upload. Facebook answers do not wait.
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, client_address

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        if not self.connections_override:
            # One database connection per client connection (a Graph client keeps its
            # connection alive across calls), not one per request: a fresh SQLite
            # connection reads the members' index back into its cache on every 10,000-row
            # call, which costs a third of the call. `close_request` closes it at the end.
            for alias in connections:
                wrapper = connections[alias]
                wrapper.settings_dict = {**wrapper.settings_dict, "CONN_MAX_AGE": None}
        super().process_request_thread(request, client_address)


def sandbox_server(host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
    """A bound server (port 0 picks a free one: read `server.server_port`)."""
    application: Any = SandboxWSGIHandler()
    if settings.DEBUG:
        from django.contrib.staticfiles.handlers import StaticFilesHandler

        application = StaticFilesHandler(application)  # the admin's CSS under run_sandbox
    server = SandboxServer((host, port), QuietRequestHandler, ipv6=":" in host)
    server.set_app(application)
    return server


def sandbox_server_in_thread(host: str = "127.0.0.1", port: int = 0) -> tuple[SandboxServer, threading.Thread]:
    server = sandbox_server(host, port)
    thread = threading.Thread(target=server.serve_forever, name="sandbox-server", daemon=True)
    thread.start()
    return server, thread
