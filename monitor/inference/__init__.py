"""The inference contract: requests, backend protocols, the registry, prompts and the describe policy."""
