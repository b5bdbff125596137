"""The one writer of every file nascompiler writes.

A write goes through a temporary file beside the target and a rename, so a crash never
leaves half a file behind; and before anything is written, the target is checked:

- a directory, a device, a FIFO or a socket at the target is refused (renaming over a device
  would turn it into a regular file), and so is a symlink (nascompiler never makes one, so a
  link there belongs to the user: replacing it would silently detach it from its target);
- an existing regular file is replaced only when it is the writer's own product (each
  :class:`Product` recognises its files: a marker in a report, the export line in a module,
  a weights file's HDF5 signature ...) or when the user passed ``--force``;
- a final name longer than the file system allows is one line, and temporary names stay
  short, whatever the final name's length (``NAME_MAX`` is 255 bytes on the common file
  systems).

Refusals are :class:`FileRefused`, a :class:`~nascompiler.errors.UsageError`: the CLI prints
one line naming the path and exits with code 2. :func:`install` moves a file or folder staged
elsewhere into place with the same checks, and :func:`remove_product` deletes only what its
product recognises.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import UsageError

NAME_MAX = 255  # bytes in one file name, where the file system does not say
_TMP_PREFIX = (
    ".nc-"  # temporary files: ".nc-<16 hex>.tmp", 24 bytes whatever the target
)


class FileRefused(UsageError):
    """A target that the writer will not replace; one line naming it and why."""


@dataclass(frozen=True)
class Product:
    """A kind of file nascompiler writes. ``recognise(path)`` says whether an existing
    ``path`` is one of them (it is only asked about regular files, or about folders when
    ``directory`` is true); ``writer`` names what writes them, in messages; ``force_hint``
    says how the user can overwrite a file that is not one (``None``: there is no way).
    """

    writer: str
    recognise: Callable[[Path], bool]
    directory: bool = False
    force_hint: str | None = "pass --force"


def _any_file(path: Path) -> bool:
    return True


# A file inside a folder nascompiler made for itself (a study's candidates, its logs): what is
# there is its own.
STUDY_FILE = Product("nascompiler", _any_file, force_hint=None)


def head(path: Path, size: int = 8192) -> bytes:
    """The first ``size`` bytes of ``path`` (empty if it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def text_marker(*markers: str, size: int = 8192) -> Callable[[Path], bool]:
    """A recogniser: any of ``markers`` in the file's first ``size`` bytes."""
    encoded = [m.encode("utf-8") for m in markers]

    def recognise(path: Path) -> bool:
        start = head(path, size)
        return any(m in start for m in encoded)

    return recognise


def name_limit(folder: Path) -> int:
    """The longest file name (in bytes) that ``folder``'s file system takes."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return int(os.pathconf(probe, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def check_name(path: Path, what: str = "") -> None:
    """Refuse a file name the file system cannot hold, before any work is done."""
    path = Path(path)
    limit = name_limit(path.parent)
    size = len(os.fsencode(path.name))
    if size > limit:
        label = f"{what} " if what else ""
        raise FileRefused(
            f"{label}{path}: the file name is {size} bytes long, more than the {limit} its "
            "file system allows; choose a shorter name"
        )


def describe(mode: int) -> str | None:
    """What a non-regular file is, in words (``None`` for a regular file)."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISREG(mode):
        return None
    return "not a regular file"


def check_target(path: Path, product: Product, force: bool = False) -> bool:
    """Whether ``path`` may be (re)written as ``product``: ``False`` when nothing is there,
    ``True`` when an existing one may be replaced; a :class:`FileRefused` otherwise."""
    path = Path(path)
    check_name(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        raise FileRefused(
            f"{path}: a part of the path above it is a file, not a folder"
        ) from None
    kind = describe(info.st_mode)
    if product.directory and stat.S_ISDIR(info.st_mode):
        if product.recognise(path):
            return True
        raise FileRefused(
            f"{path} is a directory that {product.writer} did not write; move it away"
        )
    if kind is not None:
        raise FileRefused(
            f"{path} is {kind}, not a regular file; {product.writer} will not replace it: "
            "choose another path or move it away"
        )
    if product.directory:
        raise FileRefused(
            f"{path} is a file where {product.writer} writes a folder; move it away"
        )
    if force or product.recognise(path):
        return True
    hint = f" or {product.force_hint}" if product.force_hint else ""
    raise FileRefused(
        f"{path} exists and was not written by {product.writer}; move it away{hint}"
    )


def write_atomic(
    path: str | os.PathLike,
    text: str | bytes,
    product: Product = STUDY_FILE,
    force: bool = False,
) -> Path:
    """Write ``text`` to ``path`` as ``product`` (after :func:`check_target`), through a
    temporary file in the same folder and a rename."""
    path = Path(path)
    check_target(path, product, force)
    _mkdir(path.parent)
    data = text.encode("utf-8") if isinstance(text, str) else text
    tmp = _temporary_path(path.parent)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        check_target(
            path, product, force
        )  # again: something may have appeared meanwhile
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            # A failed write (disk full) names no file; the user needs to know which one.
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    return path


def install(staged: Path, final: Path, product: Product, force: bool = False) -> Path:
    """Move ``staged`` (a file, or a folder for a directory product, written elsewhere on the
    same file system) to ``final``, replacing only what :func:`check_target` allows."""
    final = Path(final)
    if check_target(final, product, force) and product.directory:
        remove_product(final, product)
    try:
        os.replace(staged, final)
    except OSError as exc:
        if exc.filename is None or exc.filename == str(staged):
            raise OSError(exc.errno, exc.strerror, str(final)) from exc
        raise
    return final


def remove_product(path: Path, product: Product) -> bool:
    """Delete ``path`` if it is ``product`` (recognised as such); never a symlink, a device or
    anything the product does not recognise. Returns whether it was deleted."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if stat.S_ISDIR(info.st_mode) and product.directory and product.recognise(path):
        shutil.rmtree(path)
        return True
    if stat.S_ISREG(info.st_mode) and not product.directory and product.recognise(path):
        path.unlink()
        return True
    return False


def _temporary_path(folder: Path) -> Path:
    return folder / f"{_TMP_PREFIX}{secrets.token_hex(8)}.tmp"


def temporary_folder(folder: Path) -> Path:
    """A new, empty folder with a short name inside ``folder`` (made if missing), for files
    staged before :func:`install` moves them into place."""
    _mkdir(folder)
    for _ in range(100):
        path = folder / f"{_TMP_PREFIX}{secrets.token_hex(8)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise OSError(errno.EEXIST, "cannot make a temporary folder", str(folder))


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise FileRefused(
            f"{folder} is a file, not a folder; choose another path"
        ) from None
    except NotADirectoryError:
        raise FileRefused(
            f"{folder}: a part of this path is a file, not a folder; choose another path"
        ) from None
