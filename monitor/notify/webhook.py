"""A webhook route: the alert's JSON POSTed with an HMAC-SHA256 signature of the body."""

from __future__ import annotations

import hashlib
import hmac
import urllib.error
import urllib.request

from monitor.config.operators import WebhookConfig
from monitor.redact import redact_text

SIGNATURE_HEADER = "X-Monitor-Signature"
DELIVERY_HEADER = "X-Monitor-Delivery"


class DeliveryError(Exception):
    """This attempt failed; the bridge retries, then dead-letters."""


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>`: what a receiver recomputes with the shared secret and compares in constant time."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookRoute:
    def __init__(self, cfg: WebhookConfig):
        self.cfg = cfg
        self.name = cfg.name

    def deliver(self, alert: dict, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "monitor-notify",
                   DELIVERY_HEADER: str(alert.get("message_id", "")), **self.cfg.headers}
        if self.cfg.secret:
            headers[SIGNATURE_HEADER] = signature(self.cfg.secret, body)
        request = urllib.request.Request(self.cfg.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.cfg.timeout_seconds) as response:
                response.read(65536)
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"HTTP {exc.code} from the receiver") from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(redact_text(f"cannot reach the receiver: {getattr(exc, 'reason', exc)}")) from None

    def close(self) -> None:
        pass
