"""The fenced XADD: an entry reaches its stream only while the publisher's lease token is current.

The check and the append are one Lua script, so nothing can take the lease between them: a worker
that wakes from a pause (GC, SIGSTOP, a frozen VM) with a token that expired, or that another worker
holds now, is refused by Redis itself, whatever its own clock says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

FENCED_XADD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return false
end
local cmd = {'XADD', KEYS[2]}
if ARGV[3] ~= '' then
  cmd[#cmd + 1] = 'ACKED'
end
if ARGV[4] ~= '' then
  cmd[#cmd + 1] = 'IDMP'; cmd[#cmd + 1] = ARGV[4]; cmd[#cmd + 1] = ARGV[5]
end
cmd[#cmd + 1] = 'MAXLEN'; cmd[#cmd + 1] = '~'; cmd[#cmd + 1] = ARGV[2]; cmd[#cmd + 1] = '*'
for i = 6, #ARGV do
  cmd[#cmd + 1] = ARGV[i]
end
return redis.call(unpack(cmd))
"""


@dataclass(frozen=True)
class Fence:
    """The lease a message is published under: its key and the token the publisher holds."""

    lease_key: str
    token: str


class FencedXadd:
    """XADD through the fence script; returns the entry id, or None when the token is not current."""

    def __init__(self, client: redis.Redis):
        self._script = client.register_script(FENCED_XADD)

    def __call__(self, stream: str, fields: dict[str, str], fence: Fence, *, maxlen: int,
                 idmp: tuple[str, str] | None = None, acked: bool = False, via: Any = None) -> Any:
        """`idmp`: (producer, message id) for XADD IDMP; `acked`: XADD ACKED (trimming keeps pending entries)."""
        producer, message_id = idmp or ("", "")
        flat = [part for pair in fields.items() for part in pair]
        return self._script(keys=[fence.lease_key, stream],
                            args=[fence.token, maxlen, "1" if acked else "", producer, message_id, *flat], client=via)
