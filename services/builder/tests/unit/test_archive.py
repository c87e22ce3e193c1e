"""The archive boundary, attacked with real malicious tarballs built in memory."""
import gzip
import io
import os
import tarfile

import pytest

from berth_builder.adapters.archive import ArchiveRefused, unpack


def make_tar(*members, gz=True, fmt=tarfile.PAX_FORMAT) -> bytes:
    """members: (TarInfo, bytes | None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=fmt) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def file(name, data=b"x", mode=0o644):
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, data


def entry(name, type_, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = type_
    info.linkname = linkname
    return info, None


def refused(data, tmp_path, **kw) -> str:
    with pytest.raises(ArchiveRefused) as e:
        unpack(data, tmp_path, **kw)
    return str(e.value)


def test_good_archive_unpacks(tmp_path):
    data = make_tar(
        entry("./", tarfile.DIRTYPE),
        file("./app.py", b"print('hi')\n"),
        file("./bin/run", b"#!/bin/sh\n", mode=0o4755),
        entry("./lib", tarfile.DIRTYPE),
        file("./lib/a.txt", b"a"),
        entry("./lib/link", tarfile.SYMTYPE, "a.txt"),
        entry("./up", tarfile.SYMTYPE, "lib/../app.py"),
        entry("./hard", tarfile.LNKTYPE, "lib/a.txt"),
    )
    result = unpack(data, tmp_path)
    assert (tmp_path / "app.py").read_text() == "print('hi')\n"
    assert os.stat(tmp_path / "bin/run").st_mode & 0o7777 == 0o755  # no setuid
    assert os.readlink(tmp_path / "lib/link") == "a.txt"
    assert (tmp_path / "lib/link").read_text() == "a"
    assert (tmp_path / "up").read_text() == "print('hi')\n"
    assert (tmp_path / "hard").read_text() == "a" and not (tmp_path / "hard").is_symlink()
    assert result.entries == 8 and result.bytes == len(b"print('hi')\n") + 10 + 1 + 1


def test_plain_tar_is_accepted(tmp_path):
    unpack(make_tar(file("index.html", b"<p>"), gz=False), tmp_path)
    assert (tmp_path / "index.html").read_bytes() == b"<p>"


def test_absolute_path(tmp_path):
    msg = refused(make_tar(file("/etc/cron.d/evil")), tmp_path)
    assert "'/etc/cron.d/evil'" in msg and "absolute paths are not allowed" in msg


def test_dotdot_path(tmp_path):
    msg = refused(make_tar(file("../x")), tmp_path)
    assert "'../x'" in msg and "'..' path components" in msg
    assert not (tmp_path.parent / "x").exists()


def test_dotdot_in_the_middle(tmp_path):
    assert "'a/../../x'" in refused(make_tar(file("a/../../x")), tmp_path)


def test_symlink_to_absolute_path(tmp_path):
    msg = refused(make_tar(entry("passwd", tarfile.SYMTYPE, "/etc/passwd")), tmp_path)
    assert "'passwd'" in msg and "symlink to absolute path '/etc/passwd'" in msg


def test_symlink_escaping_the_tree(tmp_path):
    msg = refused(make_tar(entry("a", tarfile.SYMTYPE, "../../x")), tmp_path)
    assert "'a'" in msg and "points outside the source tree" in msg


def test_write_through_a_symlink_out_of_the_tree(tmp_path):
    # `d -> .` is inside the tree, but a later `d/e -> ../x` would then land outside.
    msg = refused(make_tar(entry("d", tarfile.SYMTYPE, "."), entry("d/e", tarfile.SYMTYPE, "../x")), tmp_path)
    assert "'d/e'" in msg and "outside the source tree" in msg


def test_hardlink_out_of_the_tree(tmp_path):
    msg = refused(make_tar(entry("shadow", tarfile.LNKTYPE, "/etc/shadow")), tmp_path)
    assert "'shadow'" in msg and "hardlink to absolute path" in msg
    msg = refused(make_tar(entry("h", tarfile.LNKTYPE, "../../etc/shadow")), tmp_path)
    assert "'h'" in msg and "hardlink" in msg and "outside the source tree" in msg


def test_char_device(tmp_path):
    msg = refused(make_tar(entry("null", tarfile.CHRTYPE)), tmp_path)
    assert "'null'" in msg and "device files are not allowed" in msg


def test_block_device(tmp_path):
    assert "device files are not allowed" in refused(make_tar(entry("sda", tarfile.BLKTYPE)), tmp_path)


def test_fifo(tmp_path):
    msg = refused(make_tar(entry("pipe", tarfile.FIFOTYPE)), tmp_path)
    assert "'pipe'" in msg and "fifos are not allowed" in msg


def test_too_many_entries(tmp_path):
    data = make_tar(*(file(f"f{i}") for i in range(11)))
    msg = refused(data, tmp_path, max_entries=10)
    assert "'f10'" in msg and "more than 10 entries" in msg


def test_too_large(tmp_path):
    data = make_tar(file("a", b"1" * 600), file("b", b"2" * 600))
    msg = refused(data, tmp_path, max_bytes=1000)
    assert "'b'" in msg and "size cap" in msg


def test_gzip_bomb(tmp_path):
    # 64 MiB of zeros compress to ~64 KiB; the cap is 1 MiB.
    info = tarfile.TarInfo("bomb.bin")
    info.size = 64 * 1024 * 1024
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    data = buf.getvalue()
    assert len(data) < 200_000
    msg = refused(data, tmp_path, max_bytes=1024 * 1024)
    assert "'bomb.bin'" in msg and "size cap" in msg
    assert not (tmp_path / "bomb.bin").exists() or (tmp_path / "bomb.bin").stat().st_size <= 1024 * 1024


def test_bytes_are_counted_while_streaming_not_taken_from_headers(tmp_path):
    # A pax header is not a file and declares no file size, but it still has to be
    # decompressed: 4 MiB of it against a 1 MiB cap is stopped by the stream counter.
    info = tarfile.TarInfo("small.txt")
    info.pax_headers = {"comment": "A" * (4 * 1024 * 1024)}
    data = make_tar((info, b"tiny"))
    msg = refused(data, tmp_path, max_bytes=1024 * 1024, max_entries=10)
    assert "decompresses to more than" in msg and "decompression bomb guard" in msg


def test_not_gzip_nor_tar(tmp_path):
    msg = refused(b"PK\x03\x04 this is a zip file" + bytes(600), tmp_path)
    assert "not a tar.gz" in msg


def test_gzip_but_not_tar(tmp_path):
    msg = refused(gzip.compress(b"hello, I am not a tarball" * 100), tmp_path)
    assert "not a" in msg and "tar archive" in msg


def test_truncated_gzip(tmp_path):
    data = make_tar(file("a", os.urandom(100_000)))
    msg = refused(data[: len(data) // 2], tmp_path)
    assert "corrupt" in msg or "not a valid tar" in msg
