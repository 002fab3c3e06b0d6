"""Content-addressed, two-level cache on disk.

Layout under the cache folder (default ``.cache/plugin/attnviz`` next to ``mkdocs.yml``)::

    extract/ab/<key>.npz    attention of all layers × heads (float16, deflate-compressed) plus a JSON
                            header (key, format, tokens, labels, model, revision, meta)
    extract/ab/<key>.l<i>.bin  a long input (layout "layers"): layer i as its H + 2 zlib-compressed uint8
                            matrices (heads, mean, max) one after the other; the npz then holds the header
                            (with each layer's sha256 and matrix sizes) and the other arrays, and is written last
    render/ab/<key>.json    the rendered figure: metadata, the sha256 of each file below, and a MAC made with this
                            machine's key (:mod:`.machine`): an entry without a valid one is rendered again
    render/ab/<key>.html    the standalone figure page
    render/ab/<key>.png     the PNG fallback
    models.json             which weights each model name stood for in the last build that could read them
    render/ab/<key>.*.js    side files of a long figure (one per layer and head, loaded by the page as needed)

Keys are sha256 over a canonical JSON of everything that changes the result:

* extraction: cache format, model weights fingerprint (resolved revision for a hub model, a hash of the
  files for a local folder), revision, text, pair, ``max_tokens``;
* render: the extraction key, the render options of the block, the renderer version, the Bokeh version,
  a hash of the templates, the resources mode and the font.

Library versions of torch/transformers are *not* in the extraction key on purpose: a cache filled on a
machine with torch must be usable on CI without it. For the same reason the cache remembers, per model name and
revision (and the folder the site maps the name to, as written relative to the project folder), the fingerprint
of the weights (``models.json``): a ``cache_only`` build on a machine that has neither the model folder nor the
hub snapshot finds its entries with the fingerprint the local build used.

Every write goes to a temporary file in the same folder and is moved into place with ``os.replace``,
so a reader never sees half a file, even if the build is killed (a killed build may leave a
``.tmp-*`` file: it is never read, and deleted by a later build once it is an hour old). Every read checks the stored key, the
format version and the file hashes; an entry that fails a check is reported, ignored and rebuilt.
A read-only cache folder is not an error: entries are kept in memory for the build and one warning says so.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from . import machine
from .errors import AttnvizError
from .files import write_atomic
from .logs import logger as log

if TYPE_CHECKING:  # numpy, the record and the layer store are imported when an attention entry is read or written:
    # a warm build, whose figures are all rendered, needs none of them
    import numpy as np

    from .attention import Attention
    from .layers import LayerStore

__all__ = ["CACHE_FORMAT", "Cache", "digest", "RenderEntry"]

#: bump when the stored layout or the meaning of a stored field changes
CACHE_FORMAT = 4  # 2: named extra arrays (decoder/cross attention, query/key vectors); 3: word ids, generated tokens;
# 4: neuron view arrays per attention set (GQA keys, bias, masks), long inputs one compressed file per layer
# (the format is part of every extraction key, so entries of an older format are simply not found: no warning)

#: a ``.tmp-*`` file older than this (seconds) is left over from a killed build and is deleted
STALE_TMP_SECONDS = 3600

#: the files of render entries verified (or written) in this build are kept in memory, up to this many bytes, until
#: they are published: publishing then writes the very bytes that were checked, without reading them again
KEEP_BYTES = 64 * 1024 * 1024


def digest(obj: Any) -> str:
    """sha256 (128 bits, hex) of the canonical JSON of ``obj``."""
    data = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


def _as_float32(array: np.ndarray) -> np.ndarray:
    """An array read from an entry, float16 ones widened (each ``npz[name]`` inflates the member again: read once)."""
    import numpy as np

    return array.astype(np.float32) if array.dtype == np.float16 else array


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: what a render entry's ``files`` may name: the page, the PNG, a long input's side files (``.l3.mean.js``), a
#: Bokeh document several figures share (``@attnviz-doc-<hash>.js``)
_SUFFIX_RE = re.compile(r"^(?:\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*|@attnviz-doc-[A-Za-z0-9_]+\.js)$")
#: the fields of a render entry and the type each must have
_RENDER_FIELDS = {"height": int, "description": str, "alt": str, "tokens": int, "warnings": list,
                  "warning_options": list, "files": dict, "format": int, "key": str}


def _render_shape_error(entry: Any) -> str | None:
    """What is wrong with the shape of a render entry read from disk (None: nothing)."""
    if not isinstance(entry, dict):
        return "is not a JSON object"
    for name, kind in _RENDER_FIELDS.items():
        value = entry.get(name)
        if value is None or not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"has no valid {name!r}"
    if not 0 < entry["height"] < 100_000:
        return "has no valid 'height'"
    if not all(isinstance(w, str) for w in entry["warnings"]) or len(entry["warning_options"]) != len(
            entry["warnings"]) or not all(o is None or isinstance(o, str) for o in entry["warning_options"]):
        return "has no valid 'warnings'"
    if not entry["files"] or not all(isinstance(s, str) and _SUFFIX_RE.match(s) and isinstance(h, str)
                                     for s, h in entry["files"].items()):
        return "has no valid 'files'"
    return None


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _header_error(header: Any) -> str | None:
    """What is wrong with the header of an extraction entry read from disk (None: nothing). Its tokens and labels
    are strings (escaped wherever a figure shows them), one per token."""
    if not isinstance(header, dict):
        return "has no header object"
    tokens = header.get("tokens")
    if not _strings(tokens) or not _strings(header.get("labels")) or len(header["labels"]) != len(tokens):
        return "has no valid tokens or labels (lists of strings)"
    if not isinstance(header.get("special"), list) or len(header["special"]) != len(tokens) or not all(
            isinstance(v, bool) for v in header["special"]):
        return "has no valid 'special'"
    if not isinstance(header.get("segments"), list) or len(header["segments"]) != len(tokens) or not all(
            type(v) is int for v in header["segments"]):
        return "has no valid 'segments'"
    if not isinstance(header.get("model"), str) or not isinstance(header.get("revision"), (str, type(None))) \
            or not isinstance(header.get("causal"), bool) or not isinstance(header.get("meta", {}), dict):
        return "has no valid model, revision, causal or meta"
    return None


def _signed(entry: Mapping[str, Any]) -> bytes:
    """The bytes of a render entry its MAC covers: everything but the MAC, canonical."""
    body = {k: v for k, v in entry.items() if k != "mac"}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class RenderEntry(dict):
    """Metadata of a rendered figure (a plain dict: ``key``, ``height``, ``description``, ``files``...)."""


class Cache:
    """The on-disk cache. ``root=None`` or ``enabled=False`` keeps everything in memory only."""

    def __init__(self, root: str | os.PathLike | None, *, enabled: bool = True) -> None:
        self.root = Path(root) if root is not None else None
        self.enabled = enabled and self.root is not None
        self.writable = self.enabled
        self._memory: dict[str, bytes] = {}  # relative path -> bytes, for entries we could not write
        self.problems: list[str] = []  # entries found broken and ignored (for tests and logs)
        self.unverified: list[str] = []  # render entries this machine did not sign (rendered again)
        self.swept: list[Path] = []  # stale temporary files removed when the cache was opened
        self._model_index: dict[str, Any] | None = None  # models.json, read on first use
        self._kept: dict[str, bytes] = {}  # relative path -> bytes of a render entry's file, checked, not yet published
        self._kept_bytes = 0
        if self.enabled:
            self._sweep_stale_temporaries()

    def _sweep_stale_temporaries(self) -> None:
        """Remove ``.tmp-*`` files that a killed build left behind.

        They are never read (entries are found by their final name only), so a fresh one is simply
        ignored: it may belong to a build running right now. Files older than :data:`STALE_TMP_SECONDS`
        cannot, and are deleted. Errors (a read-only folder) are ignored.
        """
        cutoff = time.time() - STALE_TMP_SECONDS
        try:
            candidates = [path for pattern in ("*/*/.tmp-*", "live/*/*/.tmp-*")  # a live export is a folder of files
                          for path in self.root.glob(pattern)]  # type: ignore[union-attr]
        except OSError:
            return
        for path in candidates:
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    self.swept.append(path)
            except OSError:
                pass

    # -- paths -------------------------------------------------------------------------------------
    @staticmethod
    def _rel(kind: str, key: str, suffix: str) -> str:
        return f"{kind}/{key[:2]}/{key}{suffix}"

    def path(self, kind: str, key: str, suffix: str) -> Path | None:
        return self.root / self._rel(kind, key, suffix) if self.root is not None else None

    # -- raw bytes ---------------------------------------------------------------------------------
    def _read(self, rel: str) -> bytes | None:
        if rel in self._memory:
            return self._memory[rel]
        if not self.enabled:
            return None
        try:
            return (self.root / rel).read_bytes()  # type: ignore[operator]
        except (FileNotFoundError, NotADirectoryError):  # absent (the folder may not even be creatable)
            return None
        except OSError as exc:
            self._problem(f"cannot read cache entry {rel}: {exc}")
            return None

    def _write(self, rel: str, data: bytes) -> None:
        if self.writable:
            target = self.root / rel  # type: ignore[operator]
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(target, data)
                return
            except OSError as exc:
                self.writable = False
                log.warning("attnviz: the cache folder %s is not writable (%s); figures are kept in memory "
                            "for this build and will be computed again next time", self.root, exc.strerror or exc)
        self._memory[rel] = data

    def _problem(self, message: str) -> None:
        self.problems.append(message)
        log.warning("attnviz: %s; it is ignored and rebuilt", message)

    # -- attention ---------------------------------------------------------------------------------
    def has_attention(self, key: str) -> bool:
        """Whether an attention entry is kept under ``key`` (not read, nor checked: :meth:`get_attention` does)."""
        rel = self._rel("extract", key, ".npz")
        return rel in self._memory or (self.enabled and self.root is not None and (self.root / rel).is_file())

    def get_attention(self, key: str) -> Attention | None:
        rel = self._rel("extract", key, ".npz")
        data = self._read(rel)
        if data is None:
            return None
        import numpy as np

        from .attention import Attention

        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                header = json.loads(bytes(npz["header"]).decode("utf-8"))
                arrays = {name[2:]: _as_float32(npz[name]) for name in npz.files if name.startswith("x_")}
                weights = npz["weights"].astype(np.float32) if "weights" in npz.files else None
            if header.get("format") != CACHE_FORMAT:
                self._problem(f"cache entry {rel} has format {header.get('format')!r}, expected {CACHE_FORMAT}")
                return None
            if header.get("key") != key:
                self._problem(f"cache entry {rel} holds key {header.get('key')!r}, not its own")
                return None
            wrong = _header_error(header)
            if wrong is not None:
                self._problem(f"cache entry {rel} {wrong}")
                return None
            n = len(header["tokens"])
            if header.get("layout") == "layers":
                weights = self._layer_store(key, header, n)
                if weights is None:
                    return None
            elif weights is None or weights.ndim != 4 or weights.shape[2:] != (n, n) or not np.isfinite(weights).all():
                self._problem(f"cache entry {rel} has attention of shape {getattr(weights, 'shape', None)} for {n} "
                              "tokens")
                return None
            return Attention(weights=weights, tokens=header["tokens"], labels=header["labels"],
                             special=header["special"], segments=header["segments"], model=header["model"],
                             revision=header["revision"], causal=header["causal"], meta=header.get("meta", {}),
                             arrays=arrays)
        except Exception as exc:  # truncated zip, garbage, missing fields: never shown, rebuilt
            self._problem(f"cache entry {rel} is unreadable ({type(exc).__name__}: {exc})")
            return None

    def _layer_store(self, key: str, header: dict[str, Any], n: int) -> LayerStore | None:
        """The layers of a long entry, each file checked (sha256) now and read again when a figure needs it."""
        shape = tuple(int(x) for x in header["shape"])
        layers = header["layers"]
        if len(shape) != 4 or shape[2:] != (n, n) or len(layers) != shape[0]:
            self._problem(f"cache entry {self._rel('extract', key, '.npz')} has layers of shape {shape} for {n} tokens")
            return None
        for index, layer in enumerate(layers):
            rel = self._rel("extract", key, f".l{index}.bin")
            body = self._read(rel)
            if body is None or _sha(body) != layer["sha256"] or len(body) != sum(layer["sizes"]):
                self._problem(f"cache entry {rel} is missing or damaged")
                return None

        def load(index: int) -> list[bytes]:
            body = self._read(self._rel("extract", key, f".l{index}.bin"))
            if body is None:
                raise AttnvizError(f"cache entry for layer {index} of {key} disappeared during the build")
            out, at = [], 0
            for size in layers[index]["sizes"]:
                out.append(body[at:at + size])
                at += size
            return out

        from .layers import LayerStore

        return LayerStore(shape, load)  # type: ignore[arg-type]

    def put_attention(self, key: str, att: Attention) -> None:
        import numpy as np

        header = {"format": CACHE_FORMAT, "key": key, "tokens": att.tokens, "labels": att.labels,
                  "special": [bool(s) for s in att.special], "segments": [int(s) for s in att.segments],
                  "model": att.model, "revision": att.revision, "causal": bool(att.causal), "meta": att.meta}
        extra = {f"x_{name}": np.asarray(a, dtype=np.float16) if name in ("decoder", "cross") else np.asarray(a)
                 for name, a in att.arrays.items()}
        if att.layered:
            store = att.weights
            header.update(layout="layers", shape=list(store.shape), layers=[])
            for index in range(store.num_layers):
                blobs = store.blobs(index)
                body = b"".join(blobs)
                self._write(self._rel("extract", key, f".l{index}.bin"), body)
                header["layers"].append({"sha256": _sha(body), "sizes": [len(b) for b in blobs]})
        else:
            extra["weights"] = att.weights.astype(np.float16)
        buf = io.BytesIO()
        np.savez_compressed(buf, **extra,
                            header=np.frombuffer(json.dumps(header, ensure_ascii=False).encode("utf-8"), np.uint8))
        self._write(self._rel("extract", key, ".npz"), buf.getvalue())

    # -- model fingerprints ------------------------------------------------------------------------
    _MODELS = "models.json"

    def _models(self) -> dict[str, Any]:
        if self._model_index is None:
            self._model_index = {}
            data = self._read(self._MODELS)
            try:
                found = json.loads(data.decode("utf-8"))["models"] if data is not None else {}
                if isinstance(found, dict):
                    self._model_index = {k: v for k, v in found.items() if isinstance(v, dict)}
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                self._problem(f"cache file {self._MODELS} is unreadable")
        return self._model_index

    @staticmethod
    def _model_key(name: str, revision: str | None) -> str:
        return f"{name}@{revision}" if revision else name

    def remember_fingerprint(self, name: str, revision: str | None, place: str | None, fingerprint: str) -> None:
        """Note that ``name`` (at ``revision``; mapped to the folder ``place``, as written) stood for the weights
        ``fingerprint`` in this build. Written to ``models.json`` when it changes."""
        index = self._models()
        entry = {"place": place, "fingerprint": fingerprint}
        key = self._model_key(name, revision)
        if index.get(key) != entry:
            index[key] = entry
            data = json.dumps({"format": 1, "models": index}, ensure_ascii=False, indent=1, sort_keys=True)
            self._write(self._MODELS, data.encode("utf-8"))

    def remembered_fingerprint(self, name: str, revision: str | None, place: str | None) -> str | None:
        """The fingerprint :meth:`remember_fingerprint` noted for ``name`` at ``revision`` mapped to ``place``."""
        entry = self._models().get(self._model_key(name, revision))
        if entry is None or entry.get("place") != place or not isinstance(entry.get("fingerprint"), str):
            return None
        return entry["fingerprint"]

    # -- rendered figures --------------------------------------------------------------------------
    def get_render(self, key: str) -> RenderEntry | None:
        """The figure rendered under ``key``, if this machine rendered it: its entry has the right shape, carries
        this machine's MAC (:mod:`.machine`) and every file has the hash the entry holds. An entry from another
        machine (a committed cache) or an edited one is not published: it is rendered again from its extraction
        entry. A damaged entry is named."""
        rel = self._rel("render", key, ".json")
        data = self._read(rel)
        if data is None:
            return None
        try:
            entry = json.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            self._problem(f"cache entry {rel} is unreadable ({type(exc).__name__}: {exc})")
            return None
        wrong = _render_shape_error(entry)
        if wrong is None and (entry.get("format") != CACHE_FORMAT or entry.get("key") != key):
            wrong = "is from another format or key"
        if wrong is not None:
            self._problem(f"cache entry {rel} {wrong}")
            return None
        if not machine.verify(_signed(entry), entry.get("mac")):
            log.debug("attnviz: cache entry %s was not rendered on this machine (or was changed); it is rendered "
                      "again from its extraction entry", rel)
            self.unverified.append(rel)
            return None
        bodies = {}
        for suffix, sha in entry["files"].items():
            rel = self._rel("render", key, suffix)
            body = self._read(rel)  # always what the disk holds now: that is what is published
            if body is None or _sha(body) != sha:
                self._problem(f"cache entry {rel} is missing or damaged")
                return None
            bodies[rel] = body
        self._keep(bodies)
        return RenderEntry(entry)

    def release(self) -> None:
        """Forget the files kept for publishing (a new build starts)."""
        self._kept, self._kept_bytes = {}, 0

    def _keep(self, bodies: Mapping[str, bytes]) -> None:
        """Keep the checked (or written) files of one entry for :meth:`read_render_file`, within :data:`KEEP_BYTES`."""
        size = sum(len(b) for b in bodies.values()) - sum(len(self._kept.get(rel, b"")) for rel in bodies)
        if self._kept_bytes + size <= KEEP_BYTES:
            self._kept.update(bodies)
            self._kept_bytes += size

    def put_render(self, key: str, files: Mapping[str, bytes] | Iterable[tuple[str, bytes]],
                   meta: dict[str, Any]) -> RenderEntry:
        """Store the files of one figure (``{".html": ..., ".png": ...}``, or pairs — side files come one by one and
        are written as they come); the JSON is written last."""
        shas, bodies = {}, {}
        for suffix, body in (files.items() if isinstance(files, Mapping) else files):
            rel = self._rel("render", key, suffix)
            self._write(rel, body)
            shas[suffix] = _sha(body)
            if suffix in (".html", ".png") or suffix.startswith("@"):  # not a long input's many side files
                bodies[rel] = body
        self._keep(bodies)
        entry = RenderEntry(meta)
        entry.update({"format": CACHE_FORMAT, "key": key, "files": shas})
        entry["mac"] = machine.sign(_signed(entry))
        self._write(self._rel("render", key, ".json"), json.dumps(entry, ensure_ascii=False, indent=1).encode("utf-8"))
        return entry

    def render_file_path(self, key: str, suffix: str) -> Path | None:
        """Where one file of a render entry lies on disk (None: the cache keeps it in memory, or has no folder)."""
        rel = self._rel("render", key, suffix)
        if not self.enabled or rel in self._memory:
            return None
        return self.root / rel  # type: ignore[operator]

    def read_render_file(self, key: str, suffix: str) -> bytes | None:
        """One file of a render entry: the bytes checked (or written) in this build, once, else read again."""
        rel = self._rel("render", key, suffix)
        body = self._kept.pop(rel, None)
        if body is not None:
            self._kept_bytes -= len(body)
            return body
        return self._read(rel)

    # -- live figures: a model exported for the browser ---------------------------------------------
    def put_live(self, key: str, files: Mapping[str, bytes], manifest: dict[str, Any]) -> dict[str, Any]:
        """Store an export (``{"model.onnx": ..., "tokenizer.json": ...}``) and its manifest (``live.json``, which
        gets each file's size and sha256). Each file is written whole; the manifest last, signed with this
        machine's key (kept beside it, never published): an entry is found only once it is complete."""
        for name, body in files.items():
            self._write(self._rel("live", key, "/" + name), body)
        manifest = dict(manifest, files={name.split(".")[0]: {"name": name, "bytes": len(body), "sha256": _sha(body)}
                                         for name, body in files.items()})
        data = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
        self._write(self._rel("live", key, "/live.mac"), machine.sign(data + key.encode()).encode())
        self._write(self._rel("live", key, "/live.json"), data)
        return manifest

    def get_live(self, key: str) -> dict[str, bytes] | None:
        """The files of export ``key`` (``live.json`` included), checked: the manifest's MAC and every file's size and
        sha256. None when absent; a broken or foreign entry is reported and None."""
        rel = self._rel("live", key, "/live.json")
        data = self._read(rel)
        if data is None:
            return None
        mac = self._read(self._rel("live", key, "/live.mac"))
        if mac is None or not machine.verify(data + key.encode(), mac.decode("ascii", "replace")):
            self.unverified.append(rel)
            return None
        try:
            manifest = json.loads(data.decode("utf-8"))
            listed = manifest["files"].values()
            out = {"live.json": data}
            for item in listed:
                body = self._read(self._rel("live", key, "/" + item["name"]))
                if body is None or len(body) != item["bytes"] or _sha(body) != item["sha256"]:
                    self._problem(f"cache entry {rel} names {item['name']}, which is missing or changed")
                    return None
                out[item["name"]] = body
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._problem(f"cache entry {rel} cannot be read: {exc}")
            return None
        return out
