"""What belongs to this machine, never to the project: the key that signs rendered figures, and file hashes.

The cache folder may be committed and come back through a pull request, so nothing in it is trusted (see
"Trust boundary" in ``docs/reliability.md``). A rendered figure (markup and script) is published only when its
cache entry carries a MAC made with this machine's key (:func:`sign`); an entry without one — written on another
machine, or edited — is rendered again from its extraction entry (numbers and tokens, escaped when drawn).

The key is a random 32-byte file ``key`` in :func:`state_dir`: ``$ATTNVIZ_STATE_DIR`` when set, else
``$XDG_CACHE_HOME/mkdocs-attnviz`` (``~/.cache/mkdocs-attnviz``), outside every project. It is made on first use
with mode 0600. Where that folder cannot be written, a key lives for the process only (figures are rendered
again by the next build). The same folder holds ``fingerprints.json``, the hashes of model files by (absolute
path, size, mtime) that let a warm build skip reading the weights: facts about this machine's files, and
``previews/``, ``mkdocs serve``'s quick previews of models (:func:`previews_dir`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from .logs import logger as log

__all__ = ["STATE_ENV", "state_dir", "secret", "sign", "verify", "hash_memo_path", "previews_dir",
           "PREVIEWS_ENV", "previews_in_builds"]

#: the environment variable naming the folder of this machine's own state (tests point it elsewhere to play
#: "another machine")
STATE_ENV = "ATTNVIZ_STATE_DIR"

_KEYS: dict = {}  # folder, or the variables naming it -> key, read once per process


def state_dir() -> Path:
    """The folder of this machine's own attnviz state (never inside a project)."""
    named = os.environ.get(STATE_ENV)
    if named:
        return Path(named).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mkdocs-attnviz"


#: set to ``off`` (or ``0``, ``false``, ``no``), this machine keeps and uses no quick previews (``mkdocs serve``);
#: set to ``on`` (or ``1``, ``true``, ``yes``), every build of the process uses them (:func:`previews_in_builds`)
PREVIEWS_ENV = "ATTNVIZ_PREVIEWS"


def previews_dir() -> Path | None:
    """Where ``mkdocs serve``'s quick previews of models are kept (:mod:`mkdocs_attnviz.extract.preview`); None when
    :data:`PREVIEWS_ENV` turns them off on this machine (each is the size of the model's weights)."""
    if _previews_word() == "off":
        return None
    return state_dir() / "previews"


def previews_in_builds() -> bool:
    """Whether :data:`PREVIEWS_ENV` asks every build of this process to use the quick previews: for a server that
    runs a new build process for each edit and that a build cannot tell from a publication (``sphinx-autobuild``
    runs ``sphinx-build`` again each time)."""
    return _previews_word() == "on"


def _previews_word() -> str:
    """:data:`PREVIEWS_ENV` read: ``off``, ``on`` or ``""`` (unset, or a word of neither kind)."""
    word = os.environ.get(PREVIEWS_ENV, "").strip().lower()
    return "off" if word in ("off", "0", "false", "no") else "on" if word in ("on", "1", "true", "yes") else ""


def hash_memo_path() -> Path:
    """Where the hashes of model files are remembered between builds."""
    return state_dir() / "fingerprints.json"


def _read_key(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if len(data) >= 32 else None


def _make_key(folder: Path) -> bytes:
    """The key in ``folder``, made (0600, whole or not at all) if there is none yet."""
    path = folder / "key"
    found = _read_key(path)
    if found is not None:
        return found
    key = secrets.token_bytes(32)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".key-{os.getpid()}-{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        try:
            os.link(tmp, path)  # fails if another process made the key meanwhile: then that one is the key
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    except OSError as exc:
        log.info("attnviz: cannot keep a key in %s (%s); figures rendered now are rendered again by the next "
                 "build", folder, exc.strerror or exc)
        return key
    return _read_key(path) or key


def secret() -> bytes:
    """This machine's key (read or made once per process and folder; every figure entry asks for it, so the folder
    is looked up again only when the variables that name it change)."""
    names = (os.environ.get(STATE_ENV), os.environ.get("XDG_CACHE_HOME"), os.environ.get("HOME"))
    key = _KEYS.get(names)
    if key is None:
        folder = state_dir()
        key = _KEYS.get(str(folder))
        if key is None:
            key = _KEYS[str(folder)] = _make_key(folder)
        _KEYS[names] = key  # type: ignore[index]
    return key


def sign(data: bytes) -> str:
    """The MAC of ``data`` under this machine's key (HMAC-SHA256, hex)."""
    return hmac.new(secret(), data, hashlib.sha256).hexdigest()


def verify(data: bytes, mac: object) -> bool:
    """Whether ``mac`` is :func:`sign` of ``data`` (constant time)."""
    return isinstance(mac, str) and hmac.compare_digest(sign(data), mac)
