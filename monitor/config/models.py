"""The configuration tree: one validated pydantic model whose field descriptions are the reference."""

from __future__ import annotations

from pathlib import Path
import logging
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.config.operators import EvidenceUrlsConfig, NotifyConfig, UiConfig
from monitor.inference.prompts import CATEGORIES, DEFAULTS_BY_KIND

logger = logging.getLogger(__name__)

PROMPT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
CAMERA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class Section(BaseModel):
    """Base of every section: unknown keys are errors, values are re-validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RedisConfig(Section):
    url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL; a password in it is never printed. "
                     "Prefer MONITOR_REDIS_PASSWORD or ${VAR} references over a password in the file.")
    prefix: str = Field("monitor:", description="Prefix of every key and stream the monitor writes.")
    password: str | None = Field(None, description="Redis password, if not in the URL (secret; never printed).",
                                 json_schema_extra={"secret": True})
    descriptions_maxlen: int = Field(100_000, ge=100, description="Approximate MAXLEN of the descriptions stream.")
    alerts_maxlen: int = Field(100_000, ge=100, description="Approximate MAXLEN of the alerts stream.")
    status_maxlen: int = Field(10_000, ge=100, description="Approximate MAXLEN of the status stream.")
    start_local: bool = Field(False, description="If nothing answers at `url`, start a private redis-server "
                              "(loopback only, no persistence) for this run and stop it on exit. For demos.")
    socket_timeout: float = Field(5.0, gt=0, description="Seconds before a Redis command times out.")


LLAVA_ENGINE_KEYS = ("engine", "compile", "batch_shapes")  # model.* before model.options existed


class ModelConfig(Section):
    backend: str = Field("llava_next_video", description="Model backend, by its name in the `monitor.backends` "
                         "entry-point group: llava_next_video (the fast LLaVA-NeXT-Video engine), transformers (any "
                         "video LLM that transformers' Auto classes and a chat template serve), or a third party's.")
    id: str = Field("llava-hf/LLaVA-NeXT-Video-7B-hf", description="Hugging Face hub id or a local folder "
                    "holding the checkpoint (safetensors only; no remote code is run).")
    options: dict[str, Any] | None = Field(None, description="The backend's own settings, validated by the "
                                           "backend's options model (unknown keys are errors). llava_next_video: "
                                           "engine, compile, batch_shapes; transformers: video, short_side.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) to load.")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="Weights dtype. auto: bfloat16 on CUDA (float16 where bf16 is unsupported), float32 on CPU.")
    device: str = Field("auto", description="Torch device: auto (cuda if available, else cpu), cpu, cuda, cuda:N.")
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = Field(
        "sdpa", description="Attention kernel passed to from_pretrained.")
    max_new_tokens: int = Field(160, ge=1, le=1024, description="Most tokens generated for one description; the "
                                "anomaly answer with its JSON verdict (alerts.structured_verdict) needs about 100 to 150.")
    max_batch: int = Field(8, ge=1, le=256, description="Most clips the backend takes in one batch (the fast "
                           "engine: also the rows of its decoding pool, the most clips decoding at once).")
    max_wait_ms: int = Field(50, ge=0, le=10_000, description="Longest the scheduler waits to fill a batch when the "
                             "backend is idle; while descriptions decode, new clips join between decoding steps.")
    local_files_only: bool = Field(False, description="Never contact the hub (set HF_HUB_OFFLINE=1 to the same effect).")
    describe: Literal["always", "on_alert", "every_n"] = Field(
        "always", description="Which clips get descriptions (decided by the scheduler, for every backend): "
        "always; on_alert (only when a scored prompt's score reaches score_threshold); every_n (every "
        "describe_every-th clip of a camera). Otherwise only scores are computed, in one forward pass.")
    describe_every: int = Field(6, ge=1, le=10_000, description="describe: every_n describes every n-th clip of a camera.")
    score_threshold: float = Field(0.5, ge=0.0, le=1.0, description="describe: on_alert decodes descriptions "
                                   "when a scored prompt's P(Yes) is at least this.")

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, data: Any) -> Any:
        """Configs written before model.options: `backend: transformers` meant LLaVA-NeXT-Video, and
        engine/compile/batch_shapes sat directly under model."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        flat = {k: data.pop(k) for k in LLAVA_ENGINE_KEYS if k in data}
        if data.get("backend") == "transformers" and "options" not in data:
            logger.warning("model.backend: transformers without model.options is the old name of the "
                           "LLaVA-NeXT-Video engine: write `model.backend: llava_next_video` (the generic "
                           "transformers backend is chosen with `backend: transformers` and `options:`)")
            data["backend"] = "llava_next_video"
        if flat:
            if data.get("backend", "llava_next_video") != "llava_next_video":
                raise ValueError(f"model.{next(iter(flat))} belongs to the llava_next_video backend; "
                                 f"for {data['backend']!r} see model.options")
            logger.warning("model.%s: moved; write it under model.options (model.options.%s)",
                           ", model.".join(flat), next(iter(flat)))
            data["options"] = {**flat, **(data.get("options") or {})}
        return data

    @model_validator(mode="after")
    def _backend_options(self) -> "ModelConfig":
        from pydantic import ValidationError

        from monitor.inference.registry import validate_options

        try:
            validate_options(self.backend, self.options or {})
        except ValidationError as exc:
            problems = "; ".join(f"model.options.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"{self.backend} backend: {problems}") from None
        return self

    @property
    def backend_options(self):
        """model.options as the backend's own model (defaults filled in)."""
        from monitor.inference.registry import validate_options

        return validate_options(self.backend, self.options or {})


class WindowConfig(Section):
    seconds: float = Field(10.0, gt=0, le=600, description="Length of the rolling clip window, in seconds of video.")
    stride: float = Field(5.0, gt=0, le=3600, description="Seconds of video between two clips of one camera.")
    frames: int = Field(8, ge=1, le=64, description="Frames sampled uniformly over the window for each clip.")
    incomplete: Literal["send", "skip"] = Field(
        "send", description="A window with fewer distinct frames than `frames` (a gap after a reconnect, a "
        "camera slower than two frames a sample slice, the end of a file): send sends it with the frames it "
        "really has (frames.count and timestamps say which); skip drops it and says why in the status stream. "
        "A clip never holds a frame from outside its window, nor one frame twice.")
    min_frames: int = Field(1, ge=1, le=64, description="With incomplete: send, a window with fewer frames "
                            "than this is skipped (with a status) rather than sent.")


DEFAULT_ANOMALY_PROMPT = (
    "You are watching a security camera. Is anything abnormal or dangerous happening in this video? "
    "Answer Yes or No first, then describe what you see in one or two sentences."
)
DEFAULT_ROAD_PROMPT = (
    "You are watching a vehicle's dashcam. Describe the road situation: traffic, road layout, weather, "
    "visibility and any hazards, in two or three sentences."
)


class PromptConfig(Section):
    question: str = Field(..., min_length=1, description="The question asked of every clip of the cameras "
                          "that list this prompt.")
    score: bool = Field(False, description="Scored: the answer starts with Yes or No, P(Yes) of its first token is "
                        "published as the clip's score for this question, and the score drives alerts.")


def default_prompts() -> dict[str, PromptConfig]:
    return {"anomaly": PromptConfig(question=DEFAULT_ANOMALY_PROMPT, score=True),
            "road": PromptConfig(question=DEFAULT_ROAD_PROMPT, score=False)}


def _prompts_map(raw: Any) -> Any:
    """The built-in questions, overridden or extended by the config's. A plain string is a question
    (the old form, `prompts.anomaly: "..."`): scored for anomaly, as it always was."""
    if raw is None:
        return default_prompts()
    if not isinstance(raw, dict):
        return raw
    merged: dict[str, Any] = dict(default_prompts())
    for name, value in raw.items():
        if isinstance(value, str):
            value = {"question": value, "score": name == "anomaly"}
        merged[name] = value
    return merged


class SourceConfig(Section):
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to open a network stream before giving up.")
    read_timeout: float = Field(10.0, gt=0, description="Seconds without a packet before a stream is reopened.")
    backoff_initial: float = Field(1.0, gt=0, description="First reconnect delay, in seconds.")
    backoff_max: float = Field(60.0, gt=0, description="Longest reconnect delay, in seconds (capped exponential, jittered).")
    max_width: int = Field(7680, ge=16, description="Streams wider than this are refused before decoding.")
    max_height: int = Field(4320, ge=16, description="Streams taller than this are refused before decoding.")
    scan_interval: float = Field(2.0, gt=0, description="Seconds between two scans of a dashcam folder.")
    settle_seconds: float = Field(2.0, ge=0, description="A dashcam file must be unchanged this long before it is "
                                  "read, and its container's own index must agree with the bytes present.")
    upload_timeout_seconds: float = Field(600.0, gt=0, description="A dashcam file that stays unchanged this "
                                          "long while its index still promises bytes that never came is read as "
                                          "far as it goes and reported file_failed (never marked done).")
    stall_seconds: float = Field(20.0, gt=0, description="A stream that delivers no packet for this long is "
                                 "reported stalled, abandoned (even if FFmpeg hangs) and reopened.")
    decode: Literal["targeted", "keyframes", "all"] = Field(
        "targeted", description="Default decode mode. targeted: hold each GOP's packets and decode them from "
        "the keyframe only up to each frame the window wants (samples exactly where a full decode puts them, "
        "B-frames and open GOPs included); keyframes: decode keyframes only (cheapest; a sample takes a "
        "keyframe anywhere in its slice of the window, and a slice without one stays empty); all: decode "
        "every frame (reference).")
    keyframe_snap_seconds: float = Field(0.0, ge=0, le=60, description="Decode mode targeted: a sample time "
                                         "at most this long before the next keyframe is served by that keyframe "
                                         "instead of decoding the GOP up to it. 0 keeps samples exactly where a "
                                         "full decode puts them; a value over half a sample slice "
                                         "(window.seconds / window.frames / 2) leaves such samples empty.")
    status_interval: float = Field(10.0, gt=0, description="Seconds between two health reports (fps, "
                                   "reconnects, stalls, age of the last frame) of an online source.")


class CameraConfig(Section):
    id: str = Field(..., pattern=CAMERA_ID_PATTERN, description="Unique camera id: letters, digits, '.', '_', '-'.")
    name: str | None = Field(None, description="Human-readable name; defaults to the id.")
    url: str = Field(..., min_length=1, description="rtsp(s)://, http(s):// (HLS too), a video file, or a dashcam "
                     "folder. Credentials in it are never printed; ${VAR} takes them from the environment.")
    kind: Literal["fixed", "dashcam"] = Field("fixed", description="Default prompts: fixed asks anomaly; dashcam "
                                               "asks anomaly and road.")
    prompts: list[str] | None = Field(None, min_length=1, description="Names of the questions (keys of "
                                      "`prompts`) asked of this camera's clips; defaults by kind.")
    pace: Literal["realtime", "fast"] = Field("realtime", description="Files and dashcam uploads: play at real-time "
                                              "pace, or as fast as the model takes clips.")
    loop: bool = Field(False, description="Files only: start again at the end (demo footage).")
    decode: Literal["targeted", "keyframes", "all"] | None = Field(
        None, description="Decode mode of this camera; defaults to source.decode.")
    recording_time: Literal["file", "arrival"] = Field(
        "file", description="Dashcam uploads: file takes each upload's timestamps from when it was recorded "
        "(the time in its name per `file_name_time`, else the container's creation_time, else arrival); "
        "arrival lays uploads end to end on the processing clock.")
    file_name_time: str | None = Field(
        None, description="Dashcam uploads: strptime pattern of the recording start in file names, found "
        "anywhere in the name, e.g. %Y%m%d_%H%M%S for FILE_20261201_134500.MP4.")
    file_name_time_zone: str = Field("UTC", description="IANA time zone of the times in file names "
                                     "(dashcams usually name files in local time), e.g. Europe/Berlin.")
    enabled: bool = Field(True, description="Disabled cameras are kept in the config but not opened.")
    context: str | None = Field(None, max_length=1000, description="What is normal at this camera; given to the model.")

    @field_validator("file_name_time")
    @classmethod
    def _name_time_is_a_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            from monitor.sources.recorded import name_pattern

            if "%" not in value:
                raise ValueError("file_name_time must be a strptime pattern such as %Y%m%d_%H%M%S")
            name_pattern(value)
        return value

    @field_validator("file_name_time_zone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def display_name(self) -> str:
        return self.name or self.id

    @property
    def prompt_ids(self) -> list[str]:
        if self.prompts:
            return list(dict.fromkeys(self.prompts))
        return list(DEFAULTS_BY_KIND[self.kind])


ALERT_CATEGORIES_HELP = ", ".join(CATEGORIES)


class AlertsConfig(Section):
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="Smoothed anomaly score (0..1) at or over which a "
                             "window counts as anomalous.")
    open_after: int = Field(2, ge=1, le=100, description="An alert opens after this many consecutive anomalous windows.")
    close_after: int = Field(3, ge=1, le=100, description="An open alert ends after this many consecutive windows "
                             "under the threshold.")
    cooldown_seconds: float = Field(60.0, ge=0, description="After an alert of a category ends on a camera, no new "
                                    "alert of that category opens there for this many seconds (camera clock).")
    smoothing: float = Field(0.6, gt=0.0, le=1.0, description="Weight of the newest score in the exponential moving "
                             "average of a camera's score; 1 turns smoothing off.")
    dedupe_similarity: float = Field(0.9, ge=0.0, le=1.0, description="A new alert whose description is at least "
                                     "this similar (0..1) to a recent alert of the same camera is not opened; 1 "
                                     "suppresses only identical text.")
    dedupe_seconds: float = Field(300.0, ge=0, description="How far back, in seconds, a new alert is compared with "
                                  "earlier alerts of its camera for de-duplication.")
    structured_verdict: bool = Field(True, description="Ask the model for a JSON verdict (title, summary, category "
                                     f"[{ALERT_CATEGORIES_HELP}], severity, confidence) after its Yes/No answer.")


class EvidenceConfig(Section):
    enabled: bool = Field(True, description="Write an MP4 and a JPEG for every new alert.")
    dir: str | None = Field(None, description="Folder of evidence files; nothing is written outside it. "
                            "Default: <state_dir>/evidence.")
    pre_roll_seconds: float = Field(10.0, ge=0, le=600, description="Seconds of video before the alert's window "
                                    "that the evidence MP4 starts with.")
    max_age_hours: float = Field(168.0, gt=0, description="Evidence files older than this are deleted.")
    max_total_mb: float = Field(10_240.0, gt=0, description="When evidence files take more than this many MiB, "
                                "the oldest are deleted first.")
    jpeg_quality: int = Field(90, ge=10, le=100, description="JPEG quality of the evidence image.")
    urls: EvidenceUrlsConfig = Field(default_factory=EvidenceUrlsConfig, description="Signed, expiring HTTP "
                                     "URLs of evidence files (served by `monitor ui`).")
    frames_ttl_seconds: float = Field(60.0, ge=0, description="The latest sampled frame of each camera is kept "
                                      "in Redis ({prefix}frame:<camera>, a small JPEG) this long, for the UI's "
                                      "tiles; 0 turns it off.")


class DeliveryConfig(Section):
    outbox_dir: str | None = Field(None, description="Folder of the on-disk outbox that holds messages while Redis "
                                   "is unreachable; they are published in order once it answers. "
                                   "Default: <state_dir>/outbox.")
    outbox_max_mb: float = Field(256.0, gt=0, description="Most MiB the outbox holds; past it new messages are "
                                 "dropped and counted (alerts last: see outbox_other_max_mb).")
    outbox_other_max_mb: float = Field(32.0, ge=0, description="Descriptions and status messages are kept in the "
                                       "outbox only while it is smaller than this many MiB, so alerts keep the rest.")
    retry_seconds: float = Field(1.0, gt=0, le=300, description="Seconds between two attempts to reach Redis while "
                                 "the outbox holds messages.")
    idempotent_xadd: Literal["auto", "off"] = Field("auto", description="auto: use XADD IDMP (Redis 8.6+) with the "
                                                    "message id where the server has it; off: never.")
    producer_id: str | None = Field(None, max_length=200, description="Producer id for idempotent XADD; defaults "
                                    "to the host name.")


class ClusterConfig(Section):
    enabled: bool = Field(False, description="Share the cameras with the other workers of the same redis.prefix: "
                          "each camera runs on one live worker at a time, held by a lease in Redis, balanced by "
                          "count; every publish is fenced by the lease. Every worker needs the same cameras "
                          "(the same config file). Off: this process runs every camera of its config.")
    lease_ttl_seconds: float = Field(15.0, ge=1.0, le=600, description="Lifetime of a worker's heartbeat and of "
                                     "its camera leases. A worker that dies or hangs loses its cameras within "
                                     "this time; shorter moves them sooner but costs more Redis traffic and "
                                     "tolerates shorter pauses (GC, a slow Redis).")
    worker_id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", description="This "
                                  "worker's name in the heartbeat key, leases and messages; unique per process. "
                                  "Default: <host name>-<pid>.")
    renew_interval_seconds: float | None = Field(None, gt=0, description="Seconds between two renewals of the "
                                                 "heartbeat and leases (and rebalancing checks). Default: a third "
                                                 "of lease_ttl_seconds. At most half of it.")

    @model_validator(mode="after")
    def _renew_well_within_ttl(self) -> "ClusterConfig":
        if self.renew_interval_seconds is not None and self.renew_interval_seconds > self.lease_ttl_seconds / 2:
            raise ValueError(f"renew_interval_seconds ({self.renew_interval_seconds:g}) must be at most half of "
                             f"lease_ttl_seconds ({self.lease_ttl_seconds:g}), or a late renewal loses the leases")
        return self


class MetricsConfig(Section):
    enabled: bool = Field(True, description="Serve /metrics (Prometheus), /healthz and /readyz over HTTP.")
    listen: str = Field("127.0.0.1:9108", pattern=r"^[^:]*:\d{1,5}$", description="host:port of the HTTP endpoint; "
                        "0.0.0.0:9108 in a container, port 0 picks a free one.")
    stall_seconds: float = Field(300.0, gt=0, description="/healthz fails (and the systemd watchdog is no longer "
                                 "fed) once clips have waited this long with no model call returning: a hung GPU "
                                 "call gets the process restarted. Longer than the slowest batch.")
    outbox_stall_seconds: float = Field(60.0, gt=0, description="/readyz fails once the outbox has held messages "
                                        "this long without shrinking (Redis takes nothing).")


class ControlConfig(Section):
    allow_schemes: list[str] = Field(["rtsp", "rtsps", "http", "https"], description="URL schemes a camera added or "
                                     "updated through the control stream may use; a local file or folder counts as "
                                     "`file`. Anyone who can write the control stream can point the monitor at "
                                     "what these allow.")
    allow_paths: list[str] = Field([], description="Folders under which a camera added or updated through the "
                                   "control stream may read files (when `file` is allowed); empty: none.")

    @field_validator("allow_schemes")
    @classmethod
    def _lower(cls, schemes: list[str]) -> list[str]:
        return [scheme.lower().rstrip(":/") for scheme in schemes]


class LogConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    format: Literal["auto", "text", "json"] = Field(
        "auto", description="text for people, json for log pipelines; auto: json under systemd (JOURNAL_STREAM) "
        "and Kubernetes (KUBERNETES_SERVICE_HOST), text on a terminal. Text lines escape newlines and control "
        "characters, so no logged value can forge a line.")


class MonitorConfig(Section):
    redis: RedisConfig = Field(default_factory=RedisConfig, description="Where results are published.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="The video LLM.")
    window: WindowConfig = Field(default_factory=WindowConfig, description="Rolling clip window, for every camera.")
    prompts: dict[str, PromptConfig] = Field(default_factory=default_prompts, description="Questions by name "
                                             "(letters, digits, '_', '-'); cameras list the names they ask. anomaly "
                                             "(scored) and road are built in and can be overridden.")
    source: SourceConfig = Field(default_factory=SourceConfig, description="Timeouts and limits of video sources.")
    cameras: list[CameraConfig] = Field(default_factory=list, description="The cameras to watch.")
    state_dir: str = Field("/var/lib/monitor", description="Where the monitor keeps state across restarts "
                           "(which dashcam files were processed).")
    log: LogConfig = Field(default_factory=LogConfig, description="Logging.")
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="Metrics and health endpoints.")
    control: ControlConfig = Field(default_factory=ControlConfig, description="What run-time camera changes "
                                   "through the control stream may do.")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="Turning anomaly scores into alerts.")
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig, description="Evidence clips and images of alerts.")
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig, description="At-least-once delivery to Redis.")
    ui: UiConfig = Field(default_factory=UiConfig, description="The operators' web page (`monitor ui`).")
    notify: NotifyConfig = Field(default_factory=NotifyConfig, description="The notification bridge "
                                 "(`monitor notify`): webhooks, MQTT, Home Assistant.")
    cluster: ClusterConfig = Field(default_factory=ClusterConfig, description="Several workers sharing the cameras.")
    print_results: bool = Field(False, description="Also print each description and alert on stdout (demo).")

    @model_validator(mode="after")
    def _dirs_under_state_dir(self) -> "MonitorConfig":
        """Evidence and outbox live under state_dir unless placed elsewhere explicitly."""
        if self.evidence.dir is None:
            self.evidence.dir = str(Path(self.state_dir) / "evidence")
        if self.delivery.outbox_dir is None:
            self.delivery.outbox_dir = str(Path(self.state_dir) / "outbox")
        return self

    @field_validator("prompts", mode="before")
    @classmethod
    def _prompts(cls, raw: Any) -> Any:
        return _prompts_map(raw)

    @model_validator(mode="after")
    def _known_prompts(self) -> "MonitorConfig":
        for name in self.prompts:
            if not re.fullmatch(PROMPT_NAME_PATTERN, name):
                raise ValueError(f"prompts: {name!r} is not a valid name (letters, digits, '_', '-')")
        for cam in self.cameras:
            unknown = [p for p in cam.prompt_ids if p not in self.prompts]
            if unknown:
                raise ValueError(f"camera {cam.id!r}: prompts {unknown} are not defined under `prompts` "
                                 f"(defined: {', '.join(sorted(self.prompts))})")
        return self

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        seen: set[str] = set()
        for cam in cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is used twice")
            seen.add(cam.id)
        return cameras
