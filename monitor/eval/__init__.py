"""`monitor eval`: how right the monitor is on labelled video, and which alerts.threshold to use."""
