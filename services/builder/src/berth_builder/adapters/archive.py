"""The one place that unpacks an untrusted source archive.

Everything a user uploads passes through `unpack`. It refuses, naming the entry and the
rule: absolute paths, `..` components, symlinks and hardlinks that point out of the tree
(or are absolute), device files and fifos, more than `max_entries` entries and more than
`max_bytes` of unpacked content. The size cap is enforced on the bytes actually coming out
of the decompressor, not on the sizes the tar headers declare, so a lying header or a
gzip bomb stops at the cap instead of filling the disk.
"""
from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

DEFAULT_MAX_BYTES = 500 * 1024 * 1024
DEFAULT_MAX_ENTRIES = 20_000
_CHUNK = 1024 * 1024
# Tar framing on top of file contents: a 512-byte header, padding to 512 bytes and room
# for pax/long-name headers per entry, and the end-of-archive blocks.
_OVERHEAD_PER_ENTRY = 2048
_OVERHEAD_FIXED = 20 * 512


class ArchiveRefused(ValueError):
    """The archive is not acceptable; the message names the entry and the rule."""


@dataclass(frozen=True)
class Unpacked:
    entries: int
    bytes: int


class _CappedReader(io.RawIOBase):
    """Counts every byte the decompressor yields and stops at the cap."""

    def __init__(self, raw, cap: int):
        self._raw = raw
        self._cap = cap
        self.count = 0
        self.current_entry: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        try:
            data = self._raw.read(len(b))
        except (OSError, EOFError, zlib.error) as e:
            raise ArchiveRefused(f"the source archive is corrupt: {e}") from e
        self.count += len(data)
        if self.count > self._cap:
            where = f" (at entry {self.current_entry!r})" if self.current_entry else ""
            raise ArchiveRefused(
                f"the source archive decompresses to more than {self._cap} bytes{where}: "
                "refused by the size cap (decompression bomb guard)"
            )
        b[: len(data)] = data
        return len(data)


def _open_stream(data: bytes, cap: int) -> _CappedReader:
    """A reader over the tar stream: gunzipped when the upload is gzip, as is when it is a
    plain tar; anything else is refused before tarfile sees it."""
    if data[:2] == b"\x1f\x8b":
        return _CappedReader(gzip.GzipFile(fileobj=io.BytesIO(data)), cap)
    if len(data) >= 262 and data[257:262] == b"ustar":
        return _CappedReader(io.BytesIO(data), cap)
    raise ArchiveRefused("the source archive is not a tar.gz (gzip-compressed tar) file")


def _safe_name(name: str) -> PurePosixPath | None:
    """The entry's relative path, or None for the archive's root itself (`.` / `./`)."""
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveRefused(f"entry {name!r}: absolute paths are not allowed")
    if "\\" in name:
        raise ArchiveRefused(f"entry {name!r}: backslashes are not allowed in paths")
    parts = [p for p in PurePosixPath(name).parts if p not in (".", "")]
    if ".." in parts:
        raise ArchiveRefused(f"entry {name!r}: '..' path components are not allowed")
    return PurePosixPath(*parts) if parts else None


def _within(root: str, path: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def unpack(data: bytes, dest: Path, max_bytes: int = DEFAULT_MAX_BYTES,
           max_entries: int = DEFAULT_MAX_ENTRIES) -> Unpacked:
    """Unpack a tar.gz (or plain tar) into the empty directory `dest`; raise ArchiveRefused."""
    root = os.path.realpath(dest)
    # Two caps: file contents written (checked per entry below), and every byte that comes
    # out of the decompressor, framing included (in the reader), whatever headers say.
    stream = _open_stream(data, max_bytes + max_entries * _OVERHEAD_PER_ENTRY + _OVERHEAD_FIXED)
    written = 0
    entries = 0
    try:
        # Streaming mode ("r|"): members are read in order and never seeked back to, so
        # every byte goes through the capped reader exactly once.
        tar = tarfile.open(fileobj=io.BufferedReader(stream, _CHUNK), mode="r|")
    except tarfile.TarError as e:
        raise ArchiveRefused(f"the source archive is not a tar archive: {e}") from e
    try:
        while True:
            try:
                member = tar.next()
            except tarfile.TarError as e:
                raise ArchiveRefused(f"the source archive is not a valid tar archive: {e}") from e
            if member is None:
                break
            entries += 1
            if entries > max_entries:
                raise ArchiveRefused(
                    f"entry {member.name!r}: the archive has more than {max_entries} entries (entry-count cap)"
                )
            stream.current_entry = member.name
            rel = _safe_name(member.name)
            if rel is None:
                continue
            target = os.path.join(root, *rel.parts)
            # The parent is resolved on disk: an earlier (in-tree) symlink must not let a
            # later entry be written through it to somewhere outside the tree.
            parent = os.path.realpath(os.path.dirname(target))
            if not _within(root, parent):
                raise ArchiveRefused(f"entry {member.name!r}: would be written through a symlink out of the tree")
            target = os.path.join(parent, os.path.basename(target))
            if member.isdir():
                if os.path.lexists(target) and not os.path.isdir(target):
                    os.unlink(target)
                os.makedirs(target, exist_ok=True)
                continue
            if member.isreg() or member.issym() or member.islnk():
                os.makedirs(parent, exist_ok=True)
                if os.path.lexists(target):
                    if os.path.isdir(target) and not os.path.islink(target):
                        raise ArchiveRefused(f"entry {member.name!r}: replaces a directory")
                    os.unlink(target)
            if member.isreg():
                written += _write_file(tar, member, target, max_bytes - written)
            elif member.issym():
                link = member.linkname
                if link.startswith("/"):
                    raise ArchiveRefused(f"entry {member.name!r}: symlink to absolute path {link!r} is not allowed")
                resolved = os.path.realpath(os.path.join(parent, link))
                if not _within(root, resolved):
                    raise ArchiveRefused(f"entry {member.name!r}: symlink to {link!r} points outside the source tree")
                os.symlink(link, target)
            elif member.islnk():
                link = member.linkname
                if link.startswith("/"):
                    raise ArchiveRefused(f"entry {member.name!r}: hardlink to absolute path {link!r} is not allowed")
                # Hardlink names are relative to the archive root. The link is made as a copy
                # of an already unpacked regular file, never as a real link to anything.
                source = os.path.realpath(os.path.join(root, link))
                if not _within(root, source):
                    raise ArchiveRefused(f"entry {member.name!r}: hardlink to {link!r} points outside the source tree")
                if not os.path.isfile(source):
                    raise ArchiveRefused(f"entry {member.name!r}: hardlink to {link!r}, which is not a file in the archive")
                size = os.path.getsize(source)
                if written + size > max_bytes:
                    raise ArchiveRefused(f"entry {member.name!r}: the archive unpacks to more than {max_bytes} bytes (size cap)")
                shutil.copyfile(source, target)
                os.chmod(target, os.stat(source).st_mode & 0o755)
                written += size
            elif member.ischr() or member.isblk():
                raise ArchiveRefused(f"entry {member.name!r}: device files are not allowed")
            elif member.isfifo():
                raise ArchiveRefused(f"entry {member.name!r}: fifos are not allowed")
            else:
                raise ArchiveRefused(f"entry {member.name!r}: unsupported entry type {member.type!r}")
    finally:
        tar.close()
    return Unpacked(entries=entries, bytes=written)


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, target: str, budget: int) -> int:
    """Copy one regular file, counting the bytes written against what is left of the cap."""
    if member.size > budget:
        # The header already says it will not fit; the capped reader would stop it anyway.
        raise ArchiveRefused(f"entry {member.name!r}: the archive unpacks to more than the size cap "
                             f"({member.size} bytes in this entry, {max(budget, 0)} left)")
    source = tar.extractfile(member)
    count = 0
    # O_EXCL + O_NOFOLLOW: the file is new (anything in the way was removed above).
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(_CHUNK):
            count += len(chunk)
            if count > budget:
                raise ArchiveRefused(f"entry {member.name!r}: the archive unpacks to more than the size cap")
            out.write(chunk)
    # Keep the executable bits, nothing else (no setuid/setgid/sticky, no world-write).
    os.chmod(target, 0o755 if member.mode & stat.S_IXUSR else 0o644)
    return count
