"""LLaVA-NeXT-Video: the fast engine and its parts, the reference runner, the tiny offline checkpoint."""
