"""Configuration: the validated model tree, loading, and printing with secrets masked."""

from monitor.config.loader import ConfigError, load_config, parse_config, validate
from monitor.config.models import CameraConfig, ModelConfig, MonitorConfig, WindowConfig
from monitor.config.render import redacted_dict, reference_markdown

__all__ = [
    "CameraConfig", "ConfigError", "ModelConfig", "MonitorConfig", "WindowConfig",
    "load_config", "parse_config", "redacted_dict", "reference_markdown", "validate",
]
