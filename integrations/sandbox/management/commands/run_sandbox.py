"""`python manage.py run_sandbox --port N`: the local Facebook on its own port, Meta's paths at the root.

Then FACEBOOK_GRAPH_URL=http://127.0.0.1:N is all a client needs (the dialog is at
http://127.0.0.1:N/v25.0/dialog/oauth). The sandbox's switches are in its admin at
http://127.0.0.1:N/admin/ (or the main server's admin).
"""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from integrations.sandbox import matching, payload_workers, services
from integrations.sandbox.server import sandbox_server


class Command(BaseCommand):
    help = "Serve the local Facebook sandbox (Graph API and login dialog) at the root of a port."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed).")
        parser.add_argument("--no-migrate", action="store_true", help="Do not apply migrations first.")
        parser.add_argument(
            "--payload-workers",
            type=int,
            default=0,
            help="Processes that check large upload bodies, so that concurrent uploads are checked in "
            "parallel as at Facebook (default 0: in the request threads).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        services.sandbox_seed()
        if options["payload_workers"] > 0:
            payload_workers.start(options["payload_workers"])  # forks: before any other thread starts
        else:
            matching.warm_up_in_background()
        server = sandbox_server(options["host"], options["port"])
        host, port = server.server_address[:2]
        self.stdout.write(
            f"Facebook and Amplitude sandbox on http://{host}:{port}  "
            f"(FACEBOOK_GRAPH_URL=http://{host}:{port} AMPLITUDE_API_URL=http://{host}:{port})"
        )
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            payload_workers.stop()
