"""`monitor ui`: the operators' web page (tiles, live alert feed, evidence), served from the Redis streams."""
