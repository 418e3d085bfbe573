"""Model backends, a folder or file a family; each registers under the `monitor.backends` entry points."""
