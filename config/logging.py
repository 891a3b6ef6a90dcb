"""Logging filters: credentials never reach a log line.

Graph GET requests carry the access token in the query string (as Meta documents), and
the OAuth endpoints carry codes and client secrets. When the sandbox is served by this
server, Django's request log would print those URLs: the filter masks their values.
"""

from __future__ import annotations

import logging
import re

SECRET_PARAMS = re.compile(
    r"((?:access_token|input_token|fb_exchange_token|client_secret|appsecret_proof|code|state)=)[^&\s\"']+",
    re.IGNORECASE,
)


def mask_secrets(text: str) -> str:
    return SECRET_PARAMS.sub(r"\1***", text)


class MaskSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(mask_secrets(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = mask_secrets(record.msg)
        return True
