"""DingTalk-Stream-compatible platform emulator (see docs/platform.md and docs/protocol.md)."""

from harness.platform.config import AppConfig, ConfigError, RobotWebhook, Settings, load_toml
from harness.platform.server import PlatformServer

__all__ = ["AppConfig", "ConfigError", "PlatformServer", "RobotWebhook", "Settings", "load_toml"]
