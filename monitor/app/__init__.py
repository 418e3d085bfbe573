"""The process: composition root, CLI, control, metrics and health, tail, demo."""
