"""Files that hold secrets or the database: private (owner only) from the first byte.

A file made world-readable and chmodded afterwards is readable in between, and a folder
made 0755 lets anyone list what is in it; so folders are made 0700 and files opened with
mode 0600 (O_CREAT with the mode, not a chmod after the fact).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Make the folder (and missing parents) with mode 0700; warn when an existing one is
    open to others (it may be a mounted volume: its owner decides)."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("%s is open to other users (mode %o); chmod 700 it", path, mode)
    return path


def write_private(path: Path, text: str) -> None:
    """Replace the file's contents atomically with a file created 0600."""
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def touch_private(path: Path) -> None:
    """Create the file empty with mode 0600 unless it exists (e.g. a SQLite database
    before SQLite makes it with the process's umask)."""
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        return


def secret_file(path: Path, min_length: int = 32) -> str:
    """The secret kept in the file, made once (64 hex digits, mode 0600) if missing. Several
    processes may race to make it: the first wins, the others read its secret."""
    if not path.exists():
        # Written whole under another name, then linked into place: a process that loses
        # the race never reads a half-written file.
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        write_private(temporary, secrets.token_hex(32) + "\n")
        try:
            os.link(temporary, path)
            log.info("made a secret in %s", path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    if path.stat().st_mode & 0o077:
        log.warning("%s is readable by others than its owner; chmod 600 it", path)
    secret = path.read_text().strip()
    if len(secret) < min_length:
        raise RuntimeError(f"{path} holds no usable secret ({min_length} characters or more)")
    return secret
