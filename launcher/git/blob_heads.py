"""Which blobs are binary, by git's own test of content: a NUL byte in the first 8000 bytes
(`buffer_is_binary`: what git's merge looks at before it writes conflict markers, and what its
diff looks at when no attribute decides).

The blobs are read in one `git cat-file --batch`, streamed: only each blob's first bytes are
kept, so a change with large binary files costs reading them, never holding them.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable
from pathlib import Path

from launcher.git.repo import GitRepo

FIRST_FEW_BYTES = 8000  # git's FIRST_FEW_BYTES
_NO_OBJECT = {"0" * 40, "0" * 64}


class _Heads(io.BytesIO):
    """A sink for `cat-file --batch` output that keeps the first `keep` bytes of each object."""

    def __init__(self, keep: int) -> None:
        super().__init__()
        self.keep = keep
        self.heads: dict[str, bytes] = {}
        self._header = bytearray()
        self._oid = ""
        self._head = bytearray()
        # bytes of the current object still to come, counting the newline after it; 0: a header
        self._left = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        at = 0
        while at < len(data):
            if self._left == 0:  # `<oid> <type> <size>` or `<oid> missing`, then a newline
                end = data.find(b"\n", at)
                self._header += data[at:] if end == -1 else data[at:end]
                if end == -1:
                    break
                at = end + 1
                fields = self._header.decode("ascii", "replace").split()
                self._header.clear()
                if len(fields) == 3 and fields[2].isdigit():
                    self._oid, self._left = fields[0], int(fields[2]) + 1
                    self._head.clear()
                continue
            take = min(self._left, len(data) - at)
            content = max(0, min(take, self._left - 1))  # not the object's closing newline
            room = self.keep - len(self._head)
            if room > 0:
                self._head += data[at:at + min(content, room)]
            at += take
            self._left -= take
            if self._left == 0:
                self.heads[self._oid] = bytes(self._head)
        return len(data)


async def heads(repo: GitRepo, oids: Iterable[str], keep: int = FIRST_FEW_BYTES) -> dict[str, bytes]:
    """oid -> its object's first `keep` bytes (a missing object is left out)."""
    wanted = sorted({oid for oid in oids if oid and oid not in _NO_OBJECT})
    if not wanted:
        return {}
    sink = _Heads(keep)
    with tempfile.TemporaryDirectory(prefix="launcher-blobs-") as scratch:
        listing = Path(scratch) / "oids"
        listing.write_text("".join(f"{oid}\n" for oid in wanted))
        await repo.git("cat-file", "--batch", stdin_from=listing, stdout_to=sink, check=False)
    return sink.heads


async def binary(repo: GitRepo, oids: Iterable[str]) -> set[str]:
    """The `oids` whose content git calls binary (a NUL byte in its first 8000 bytes)."""
    return {oid for oid, head in (await heads(repo, oids)).items() if b"\0" in head}
