"""On-disk cache of compiled objects: shared safely by concurrent processes, and trusted no
further than its owner.

An entry is one file named by its key: a header (magic, payload length, and an
HMAC-SHA256 of the key and the payload under a secret key of this user's) then the
payload. Writers write a temporary file in the same directory and ``os.replace`` it into
place, so readers see a whole old entry, a whole new one, or none; two processes compiling
the same thing both write valid entries and the last one wins. A reader that finds an entry
it cannot trust (truncated, forged, swapped with another key's, not a regular file owned by
this user) deletes it, warns, and reports a miss; so does :meth:`DiskCache.discard`, for an
entry whose object failed to load.

Threat model. Entries are machine code that runs in this process, so the cache must not let
anyone but this user choose it. The directory is created ``0700``; a cache directory (or
the secret key) that another user owns, or that group or others may write, is not used:
the cache then lives in memory for this process, after one warning. An entry is opened
without following links and read only up to the length its header records. The HMAC key
(``codegen.settings.cache_key_file``, created ``0600`` with 32 random bytes) is what a
forged entry cannot pass: whoever can write the cache directory but not read the key cannot
make symgraph run their code. Whoever can read the key, or act as this user, can anyway.

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
import hmac
import os
import stat
import struct
import tempfile
import warnings
from pathlib import Path

from codegen import settings

_MAGIC = b"SGOBJ\x00\x02\x00"
_HEADER = struct.Struct("<8sQ32s")
MAX_ENTRY = 1 << 30
"""No entry is read beyond this many bytes, whatever its header says."""


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


def _private(st: os.stat_result) -> bool:
    """Owned by this user, and no one else may write it."""
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _secret(path: Path) -> bytes | None:
    """This user's HMAC key, made on first use; None if it cannot be trusted or made."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(32))
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or \
                    st.st_mode & 0o077:
                return None
            key = f.read(64)
            while len(key) < 32:                 # another process is writing it
                key = path.read_bytes()
        return key
    except OSError:
        return None


class DiskCache:
    """A directory of authenticated entries; ``directory`` None means :func:`cache_dir`
    (looked up at each call) and ``namespace`` is a subdirectory (one per backend).
    Where the directory or the key cannot be trusted, entries live in memory."""

    def __init__(self, directory: str | os.PathLike | None = None, namespace: str = "llvm",
                 key_file: str | os.PathLike | None = None):
        self._dir, self.namespace, self._key_file = directory, namespace, key_file
        self.hits = self.misses = self.corrupt = self.writes = 0
        self._memory: dict[str, bytes] = {}
        self._trusted: dict[tuple, bytes | None] = {}     # (directory, key file) -> key
        self._warned: set[str] = set()

    @property
    def directory(self) -> Path:
        return Path(self._dir if self._dir is not None else cache_dir()) / self.namespace

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.obj"

    def _warn(self, what: str, message: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            warnings.warn(message, RuntimeWarning, stacklevel=4)

    def _key(self) -> bytes | None:
        """The HMAC key if the directory (made ``0700`` if missing) and the key can be
        trusted; None, after one warning, if not: then entries live in memory."""
        d = self.directory
        key_file = Path(self._key_file if self._key_file is not None
                        else settings.cache_key_file)
        where = (str(d), str(key_file))
        if where not in self._trusted:
            try:
                d.mkdir(mode=0o700, parents=True, exist_ok=True)
                ok = all(_private(os.stat(p, follow_symlinks=False)) for p in (d, d.parent))
            except OSError:
                ok = False
            secret = _secret(key_file) if ok else None
            if secret is None:
                self._warn(str(d), f"the compile cache {d} (or its key {key_file}) is not "
                           "private to this user: compiled code is kept in memory only")
            self._trusted[where] = secret
        return self._trusted[where]

    def _mac(self, secret: bytes, key: str, payload: bytes) -> bytes:
        return hmac.new(secret, key.encode() + b"\0" + payload, hashlib.sha256).digest()

    def get(self, key: str) -> bytes | None:
        """The payload stored under ``key``, or None (absent, or untrusted and now
        removed)."""
        secret = self._key()
        if secret is None:
            found = self._memory.get(key)
            self.hits += found is not None
            self.misses += found is None
            return found
        path = self.path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            self.misses += 1
            return None
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            header = f.read(_HEADER.size) if stat.S_ISREG(st.st_mode) and \
                _private(st) else b""
            payload = None
            if len(header) == _HEADER.size:
                magic, n, mac = _HEADER.unpack(header)
                if magic == _MAGIC and n == st.st_size - _HEADER.size and n <= MAX_ENTRY:
                    payload = f.read(n)
                    if len(payload) != n or not hmac.compare_digest(
                            mac, self._mac(secret, key, payload)):
                        payload = None
        if payload is not None:
            self.hits += 1
            return payload
        self.discard(key, "is not a valid entry")
        self.misses += 1
        return None

    def discard(self, key: str, why: str = "failed to load") -> None:
        """Remove the entry under ``key`` (it will be compiled and written again)."""
        self.corrupt += 1
        self._memory.pop(key, None)
        path = self.path(key)
        self._warn(f"entry {key}", f"the compile cache entry {path} {why}: removed, the "
                   "code is compiled again")
        try:
            path.unlink()
        except OSError:     # another process removed or replaced it first
            pass

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` atomically; a cache that cannot be written is only slower."""
        secret = self._key()
        if secret is None:
            self._memory[key] = data
            self.writes += 1
            return
        d = self.directory
        try:
            fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{key[:16]}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(_HEADER.pack(_MAGIC, len(data), self._mac(secret, key, data)))
                    f.write(data)
                os.replace(tmp, self.path(key))
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            return
        self.writes += 1
