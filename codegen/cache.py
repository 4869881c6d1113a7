"""On-disk cache of compiled objects, shared safely by concurrent processes.

An entry is one file named by its key, holding a header (magic, payload length, sha256 of
the payload) then the payload. Writers write a temporary file in the same directory and
``os.replace`` it into place, so readers see a whole old entry, a whole new one, or none;
two processes compiling the same thing both write valid entries and the last one wins. A
reader that finds a corrupt or truncated entry deletes it and reports a miss.

The directory is :data:`codegen.settings.cache_dir` (``sg.config.cache_dir`` sets it), read
at each use so tests and users can redirect it.

>>> import tempfile
>>> c = DiskCache(tempfile.mkdtemp())
>>> k = cache_key("kernel", "signature")
>>> c.get(k) is None
True
>>> c.put(k, b"machine code"); c.get(k)
b'machine code'
"""
from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from pathlib import Path

from codegen import settings

_MAGIC = b"SGOBJ\x00\x01\x00"
_HEADER = struct.Struct("<8sQ32s")


def cache_dir() -> Path:
    """The cache root, :data:`codegen.settings.cache_dir`."""
    return Path(settings.cache_dir)


def cache_key(*parts: str) -> str:
    """sha256 over ``parts``, unambiguously separated."""
    h = hashlib.sha256()
    for p in parts:
        b = p.encode()
        h.update(len(b).to_bytes(8, "little") + b)
    return h.hexdigest()


class DiskCache:
    """A directory of checksummed entries; ``directory`` None means :func:`cache_dir`
    (looked up at each call) and ``namespace`` is a subdirectory (one per backend)."""

    def __init__(self, directory: str | os.PathLike | None = None, namespace: str = "llvm"):
        self._dir, self.namespace = directory, namespace
        self.hits = self.misses = self.corrupt = self.writes = 0

    @property
    def directory(self) -> Path:
        return Path(self._dir if self._dir is not None else cache_dir()) / self.namespace

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.obj"

    def get(self, key: str) -> bytes | None:
        """The payload stored under ``key``, or None (absent, or corrupt and now removed)."""
        path = self.path(key)
        try:
            blob = path.read_bytes()
        except OSError:
            self.misses += 1
            return None
        if len(blob) >= _HEADER.size:
            magic, n, digest = _HEADER.unpack_from(blob)
            payload = blob[_HEADER.size:]
            if magic == _MAGIC and n == len(payload) and hashlib.sha256(payload).digest() == digest:
                self.hits += 1
                return payload
        self.corrupt += 1
        self.misses += 1
        try:
            path.unlink()
        except OSError:     # another process removed or replaced it first
            pass
        return None

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` atomically; a cache that cannot be written is only slower."""
        d = self.directory
        try:
            d.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{key[:16]}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(_HEADER.pack(_MAGIC, len(data), hashlib.sha256(data).digest()))
                    f.write(data)
                os.replace(tmp, self.path(key))
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            return
        self.writes += 1
