"""Credentials in request URLs never reach a log line."""

from __future__ import annotations

import logging

from config.logging import MaskSecretsFilter, mask_secrets


def test_tokens_codes_and_secrets_in_urls_are_masked():
    line = (
        '"GET /sandbox/v25.0/me?fields=id&access_token=EAABsecret123&appsecret_proof=abcd HTTP/1.1" 200'
        " /oauth/access_token?code=AQDcode&client_secret=s3cret&fb_exchange_token=EAAshort"
    )
    masked = mask_secrets(line)
    for secret in ["EAABsecret123", "abcd", "AQDcode", "s3cret", "EAAshort"]:
        assert secret not in masked
    assert "fields=id" in masked and "access_token=***" in masked


def test_the_filter_masks_the_arguments_of_djangos_request_log(caplog):
    logger = logging.getLogger("test.mask")
    logger.addFilter(MaskSecretsFilter())
    with caplog.at_level(logging.INFO, logger="test.mask"):
        logger.info('"%s" %s %s', "GET /v25.0/debug_token?input_token=EAABzzz HTTP/1.1", "200", "12")
    assert "EAABzzz" not in caplog.text and "input_token=***" in caplog.text
