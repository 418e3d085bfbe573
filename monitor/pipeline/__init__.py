"""The flow of one process: cameras -> scheduler -> result stage (messages, alert rules, publish)."""
