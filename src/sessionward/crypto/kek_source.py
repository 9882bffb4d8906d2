"""Where the key-encryption key is kept, outside the database: `[storage] kek` (in practice the environment
variable SESSIONWARD_STORAGE__KEK), or a file, `[storage] kek_file`, by default `<data_dir>/kek`.

The default file is created on first use, readable by its owner only. Any KEK file whose mode lets its group or
others in is refused: a key anyone on the machine can read protects nothing. A file is read again by
`reload()`, so a running server follows a `keys rotate-kek` made by another process.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sessionward.crypto.kek import Kek, KekError, KekRing, parse_keks

DEFAULT_FILE_NAME = "kek"
_MAX_FILE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class KekLocation:
    """`kind` "env": the keys are the setting's value; "file": they are in `path`."""

    kind: Literal["env", "file"]
    setting: str
    path: Path | None = None
    value: str = ""
    default_file: bool = False

    def describe(self) -> str:
        return f"{self.setting} ({self.path})" if self.path is not None else self.setting


def kek_location(kek: str, kek_file: str, data_dir: str) -> KekLocation:
    """From the [storage] settings: `kek` wins when set (config validation forbids setting both)."""
    if kek:
        return KekLocation("env", "storage.kek", value=kek)
    if kek_file:
        return KekLocation("file", "storage.kek_file", Path(kek_file))
    return KekLocation("file", "storage.kek_file", Path(data_dir) / DEFAULT_FILE_NAME, default_file=True)


def _check_mode(path: Path, setting: str) -> None:
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise KekError(f"{path} is not a regular file", setting)
    if mode & 0o077:
        raise KekError(
            f"{path} has mode {stat.S_IMODE(mode):04o}: its group or others may read the key-encryption key; "
            f"make it readable by its owner only (chmod 600 {path})",
            setting,
        )


def read_kek_file(path: Path, setting: str) -> tuple[Kek, ...]:
    try:
        _check_mode(path, setting)
        with path.open("rb") as handle:
            data = handle.read(_MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise KekError(f"{path}: no such file (the key-encryption key must be where it was)", setting) from None
    except OSError as exc:
        raise KekError(f"cannot read {path}: {exc.strerror or type(exc).__name__}", setting) from None
    if len(data) > _MAX_FILE_BYTES:
        raise KekError(f"{path} is too large to be a key-encryption key file", setting)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise KekError(f"{path} is not a key-encryption key file", setting) from None
    return parse_keks(text, f"{setting} ({path})")


def write_kek_file(path: Path, keys: tuple[Kek, ...], *, exclusive: bool = False) -> bool:
    """Writes `keys` (current first) to `path`, mode 0600, atomically: a reader sees the old file or the new
    one whole. `exclusive`: only if `path` does not exist yet (False when another process made it first)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = "# sessionward key-encryption keys, the current one first: keep this file secret and backed up\n"
    body += "".join(f"{k.text}\n" for k in keys)
    fd, tmp = tempfile.mkstemp(prefix=".kek-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, body.encode("ascii"))
        os.fsync(fd)
        os.close(fd)
        fd = -1
        if exclusive:
            try:
                os.link(tmp, path)  # fails if the file exists: the first process to get here wins
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
            tmp = ""
        return True
    finally:
        if fd != -1:
            os.close(fd)
        if tmp:
            os.unlink(tmp)


class KekSource:
    """The KekProvider of a running process: the keys from the environment or from the file, read again on
    `reload()` (only a file can change while the process runs)."""

    def __init__(self, location: KekLocation, *, create: bool = False) -> None:
        """`create`: make the default file with a new key if it does not exist (a first run)."""
        self.location = location
        if create and location.default_file and location.path is not None and not location.path.exists():
            write_kek_file(location.path, (Kek.generate(),), exclusive=True)
        self._ring = KekRing(self._read())

    def _read(self) -> tuple[Kek, ...]:
        if self.location.kind == "env":
            return parse_keks(self.location.value, self.location.setting)
        assert self.location.path is not None
        return read_kek_file(self.location.path, self.location.setting)

    def ring(self) -> KekRing:
        return self._ring

    def reload(self) -> KekRing:
        # A file being replaced or gone: keep the keys this process has, which fail closed anyway.
        with contextlib.suppress(KekError):
            self._ring = KekRing(self._read())
        return self._ring
