"""Config sections of the operator-facing tools: the web UI, the notification bridge, evidence URLs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SECRET = {"secret": True}
LISTEN_PATTERN = r"^[^:]*:\d{1,5}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EvidenceUrlsConfig(_Section):
    base_url: str | None = Field(None, description="Public base URL under which `monitor ui` serves evidence, e.g. "
                                 "https://monitor.example.org (no trailing path needed). Set with `signing_key`: every "
                                 "alert's `evidence` then carries `clip_url` and `image_url`, signed and expiring.")
    signing_key: str | None = Field(None, min_length=16, description="HMAC key that signs evidence URLs (secret; at least "
                               "16 characters; never printed). The UI and the notifier need the same one. "
                               "MONITOR_EVIDENCE_URL_KEY sets it.", json_schema_extra=SECRET)
    ttl_seconds: float = Field(7 * 86400.0, gt=0, description="How long a signed evidence URL stays valid, in "
                               "seconds. The UI and the notifier sign fresh URLs when they show or deliver an alert.")

    @property
    def enabled(self) -> bool:
        return bool(self.base_url and self.signing_key)


class UiConfig(_Section):
    listen: str = Field("127.0.0.1:8080", pattern=LISTEN_PATTERN, description="host:port of `monitor ui` "
                        "(--listen overrides it). Beyond loopback, token or username/password is required.")
    token: str | None = Field(None, min_length=16, description="Bearer token the UI asks for (header "
                              "`Authorization: Bearer ...` or, for links and the event stream, the `token` cookie "
                              "set by /login?token=...). Secret; MONITOR_UI_TOKEN sets it.", json_schema_extra=SECRET)
    username: str | None = Field(None, description="HTTP basic auth user name (with `password`).")
    password: str | None = Field(None, min_length=8, description="HTTP basic auth password (secret; "
                                 "MONITOR_UI_PASSWORD sets it).", json_schema_extra=SECRET)
    read_only: bool = Field(True, description="True: nobody can acknowledge alerts from the page. False: the "
                            "page shows an Acknowledge button; acknowledgements are kept in Redis.")
    tiles_per_page: int = Field(24, ge=1, le=500, description="Camera tiles on one page (200 cameras: 9 pages).")
    sparkline_points: int = Field(60, ge=2, le=1000, description="Anomaly scores kept per camera for its sparkline.")
    feed_size: int = Field(100, ge=1, le=5000, description="Alerts kept in the live feed.")
    frame_refresh_seconds: float = Field(2.0, gt=0, description="Shortest time between two reloads of a tile's "
                                         "frame in the browser.")

    @model_validator(mode="after")
    def _basic_auth_complete(self) -> "UiConfig":
        if (self.username is None) != (self.password is None):
            raise ValueError("ui.username and ui.password go together")
        return self


class RouteFilter(_Section):
    min_severity: int = Field(0, ge=0, le=2, description="Only alerts of at least this severity (0 info, "
                              "1 suspicious, 2 critical). An alert's later phases follow its `new`.")
    cameras: list[str] = Field(default_factory=list, description="Only these camera ids; empty: every camera.")
    categories: list[str] = Field(default_factory=list, description="Only these verdict categories "
                                  "(intrusion, fire_smoke, ...); empty: every category.")
    phases: list[Literal["new", "update", "end"]] = Field(["new", "update", "end"], min_length=1,
                                                         description="Which alert phases this route gets.")
    max_per_camera: int | None = Field(None, ge=1, description="Rate limit: at most this many alerts (`new`) of "
                                       "one camera per `rate_window_seconds`; the later phases of a held-back "
                                       "alert are held back too. Unset: no limit.")
    rate_window_seconds: float = Field(3600.0, gt=0, description="The window of `max_per_camera`, in seconds.")


class WebhookConfig(_Section):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Route name: names its consumer group "
                      "and its dead letters.")
    url: str = Field(..., pattern=r"^https?://", description="Where each alert is POSTed as JSON.")
    secret: str | None = Field(None, description="HMAC-SHA256 key: the body's signature goes in the "
                               "`X-Monitor-Signature: sha256=<hex>` header (secret; may be ${VAR}).",
                               json_schema_extra=SECRET)
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers (e.g. an API key; "
                                    "values are treated as secrets).", json_schema_extra=SECRET)
    timeout_seconds: float = Field(10.0, gt=0, description="Seconds one POST may take.")
    filter: RouteFilter = Field(default_factory=RouteFilter, description="Which alerts this webhook gets.")


class MqttTlsConfig(_Section):
    enabled: bool = Field(False, description="Connect with TLS.")
    ca_file: str | None = Field(None, description="CA certificates to verify the broker with; default: the system's.")
    cert_file: str | None = Field(None, description="Client certificate (mutual TLS).")
    key_file: str | None = Field(None, description="Client key (mutual TLS).")
    insecure: bool = Field(False, description="Skip the broker host name check (tests only).")


class MqttConfig(_Section):
    name: str = Field("mqtt", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Route name: names its consumer group.")
    host: str = Field(..., description="Broker host.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 is usual with TLS).")
    username: str | None = Field(None, description="Broker user name.")
    password: str | None = Field(None, description="Broker password (secret; MONITOR_MQTT_PASSWORD sets it).",
                                 json_schema_extra=SECRET)
    client_id: str | None = Field(None, description="MQTT client id; default monitor-notify-<host name>.")
    tls: MqttTlsConfig = Field(default_factory=MqttTlsConfig, description="TLS to the broker.")
    topic_prefix: str = Field("monitor", pattern=r"^[^#+]+$", description="Alerts go to "
                              "`{topic_prefix}/{camera}/alert`; the retained per-camera state to "
                              "`{topic_prefix}/{camera}/state`; the bridge's availability to "
                              "`{topic_prefix}/bridge/availability`.")
    qos: int = Field(1, ge=0, le=2, description="QoS of alert messages (1: at least once).")
    discovery: bool = Field(True, description="Publish Home Assistant MQTT discovery (retained): a binary_sensor "
                            "per camera (alert open) and a sensor with the last alert title.")
    discovery_prefix: str = Field("homeassistant", pattern=r"^[^#+]+$", description="Home Assistant's discovery "
                                  "prefix.")
    filter: RouteFilter = Field(default_factory=RouteFilter, description="Which alerts go to the broker.")


class NotifyConfig(_Section):
    group: str = Field("notify", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Consumer group name prefix on "
                       "{prefix}alerts; each route reads through its own group `<group>:<route>`, so a receiver "
                       "that is down holds back only its own deliveries.")
    consumer: str | None = Field(None, description="Consumer name within the groups; default: the host name.")
    start: Literal["new", "all"] = Field("new", description="Where a route's new consumer group starts: new "
                                         "(alerts from now on) or all (every alert still in the stream).")
    attempts: int = Field(8, ge=1, le=1000, description="Deliveries of one alert tried before it goes to the "
                          "dead-letter stream {prefix}notify:dead (with the route and the last error).")
    backoff_initial: float = Field(1.0, gt=0, description="First retry delay, in seconds (doubled each time).")
    backoff_max: float = Field(30.0, gt=0, description="Longest retry delay, in seconds. The defaults ride out "
                               "about 2.5 minutes of a receiver being down.")
    webhooks: list[WebhookConfig] = Field(default_factory=list, description="Webhook routes.")
    mqtt: MqttConfig | None = Field(None, description="The MQTT route (and Home Assistant discovery).")

    @model_validator(mode="after")
    def _unique_routes(self) -> "NotifyConfig":
        names = [w.name for w in self.webhooks] + ([self.mqtt.name] if self.mqtt else [])
        if len(names) != len(set(names)):
            raise ValueError("notify route names (webhooks[].name, mqtt.name) must be unique")
        return self
