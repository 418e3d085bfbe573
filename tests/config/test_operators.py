"""The ui, notify and evidence.urls sections: secrets from the environment, masked in every printout."""

from __future__ import annotations

import pytest
import yaml

from monitor.config import ConfigError, parse_config, redacted_dict

TEXT = """
evidence: {urls: {base_url: "https://m.example.org", signing_key: "${URL_SECRET}"}}
ui: {username: duty, password: night-shift-7}
notify:
  webhooks: [{name: ops, url: "https://hooks.example.org/x", secret: hook-secret, headers: {X-Api-Key: k-123}}]
  mqtt: {host: broker.local, username: ha, password: mqtt-pass}
"""


def test_operator_secrets_are_masked_in_the_printed_config():
    config = parse_config(TEXT, "<t>", {"URL_SECRET": "url-secret-0123456789", "MONITOR_UI_TOKEN": "tok-0123456789abcdef"})
    assert config.ui.token == "tok-0123456789abcdef" and config.evidence.urls.enabled
    printed = yaml.safe_dump(redacted_dict(config))
    for secret in ("url-secret-0123456789", "tok-0123456789abcdef", "night-shift-7", "hook-secret", "k-123",
                   "mqtt-pass"):
        assert secret not in printed
    assert "https://m.example.org" in printed and "duty" in printed


def test_a_basic_auth_user_without_a_password_is_an_error_naming_the_section():
    with pytest.raises(ConfigError, match="ui: Value error, ui.username and ui.password go together"):
        parse_config("ui: {username: duty}", "<t>", {})


def test_route_names_must_be_unique():
    with pytest.raises(ConfigError, match="must be unique"):
        parse_config("notify: {webhooks: [{name: a, url: 'http://x'}], mqtt: {name: a, host: b}}", "<t>", {})
