"""Write `.env` for the local demo once: random secrets that survive restarts.

The encryption keys must stay the same between runs, or tokens saved by the last
run could not be read; so an existing `.env` is kept as it is.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography.fernet import Fernet

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


def main() -> None:
    if ENV_FILE.exists():
        return
    ENV_FILE.write_text(
        "# Written by `make run` for the local demo. Do not use these values in production.\n"
        "DEBUG=1\n"
        "SANDBOX=1\n"
        f"SECRET_KEY={secrets.token_urlsafe(48)}\n"
        f"TOKEN_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
        f"DEMO_ADMIN_PASSWORD={secrets.token_urlsafe(12)}\n"
        "Q_WORKERS=1\n",
        encoding="utf-8",
    )
    ENV_FILE.chmod(0o600)
    print(f"Wrote {ENV_FILE.name} with fresh development secrets.")


if __name__ == "__main__":
    main()
