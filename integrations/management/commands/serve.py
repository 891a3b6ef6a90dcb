"""Start the web server and one django-q2 worker cluster together; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand


def _wait_for_http(url: str, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own local server)
                return True
        except OSError:
            time.sleep(0.3)
    return False


class Command(BaseCommand):
    help = "Run the admin (runserver) and a django-q2 worker together, for local use."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port of the web server")
        parser.add_argument(
            "--seed-demo", action="store_true", help="once the server answers, create the sandbox demo (seed_demo)"
        )

    def handle(self, *args, addr: str, seed_demo: bool = False, **options):
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # --noreload: the autoreloader forks a second process that Ctrl-C handling would
        # have to chase; the threaded server also lets the sandbox answer this server's
        # own Graph calls.
        web = subprocess.Popen([*manage, "runserver", addr, "--noreload"], env=env)  # noqa: S603 (our own manage.py)
        children = [web]
        if seed_demo:
            # The demo talks to the sandbox over HTTP, as production talks to Meta: it
            # needs the server up first.
            if _wait_for_http(f"http://{addr}/admin/login/", seconds=60):
                subprocess.run([*manage, "seed_demo"], env=env, check=False)  # noqa: S603
            else:
                self.stderr.write("The web server did not answer within 60 s; skipping the demo set-up.")
        children.append(subprocess.Popen([*manage, "qcluster"], env=env))  # noqa: S603
        self.stdout.write(self.style.SUCCESS(f"Admin on http://{addr}/admin/ with a worker. Ctrl-C stops both."))

        def stop(*_):
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
