"""`monitor notify`: alerts from {prefix}alerts to webhooks and MQTT (Home Assistant), at least once."""
