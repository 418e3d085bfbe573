"""Entries a stream's MAXLEN trimmed while a consumer group still had them pending: found and counted.

Redis before 8.2 trims by length alone, so a consumer group that falls behind by more than MAXLEN loses
entries it never acknowledged; they stay in its pending list as ids without data. Where the server has
XADD ACKED (8.2+) the publisher uses it and nothing is lost; elsewhere this watch finds such ids (pending
ids older than the stream's first entry) so they are reported in status and metrics, not lost silently."""

from __future__ import annotations

import logging

import redis

logger = logging.getLogger(__name__)

_SCAN = 1000  # pending ids read per group and check; the rest are counted at the next check


def trimmed_pending_ids(client: redis.Redis, stream: str, group: str, after: str = "-") -> list[str]:
    """Ids pending in `group` (after `after`) that the stream no longer holds."""
    first = client.xrange(stream, count=1)
    if not first:
        bound = "+"  # an empty stream: every pending id was trimmed
    else:
        bound = f"({first[0][0]}"
    start = f"({after}" if after != "-" else "-"
    try:
        pending = client.xpending_range(stream, group, min=start, max=bound, count=_SCAN)
    except redis.ResponseError:  # the group or the stream went away meanwhile
        return []
    return [p["message_id"] for p in pending]


class TrimWatch:
    """Counts, per stream, pending entries found trimmed since the process started (each id once)."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}
        self._last: dict[tuple[str, str], str] = {}  # (stream, group) -> newest trimmed id already counted

    def check(self, client: redis.Redis, streams: dict[str, str]) -> list[str]:
        """Look at every group of `streams` (name -> key); returns one line per group with new losses."""
        found = []
        for name, key in streams.items():
            try:
                groups = client.xinfo_groups(key) if client.exists(key) else []
            except redis.ResponseError:
                continue
            for info in groups:
                group = info["name"]
                if not info.get("pending"):
                    continue
                ids = trimmed_pending_ids(client, key, group, self._last.get((key, group), "-"))
                if not ids:
                    continue
                self._last[(key, group)] = ids[-1]
                self.totals[name] = self.totals.get(name, 0) + len(ids)
                found.append(f"stream {name}: {len(ids)} entries pending in group {group} were trimmed by MAXLEN "
                             f"before being acknowledged (raise redis.{name}_maxlen, or Redis 8.2+ keeps them)")
        return found
