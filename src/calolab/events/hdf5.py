"""Event-image datasets on disk: chunked HDF5, written atomically, with provenance.

Layout::

    /images                      (N, 3, n_eta, n_phi) float32  GeV (ECAL E_T, HCAL E_T,
                                                              track p_T; see calolab.events.images)
    /labels                      (N,) int32                   class index into `classes`
    /calolab                     attrs: kind = "event_images", format_version, calolab_version,
                                 n_events, classes (JSON list), channels (JSON list),
                                 image_config (JSON), provenance (JSON)
    /calolab/info/<name>         (N,) per-event values (event number, process code, p̂_T, ...)
    /calolab/objects/towers/...  offsets (N+1,) and columns eta, phi, et_em, et_had (GeV)
    /calolab/objects/tracks/...  offsets (N+1,) and columns pt, eta, phi (GeV)

The objects the images were made from are kept (they are small next to the images), so a
file can be re-imaged with another resolution or η range without regenerating it.

Files are written through :class:`calolab.data.hdf5.H5Output` (unique temporary name, the
output's lock, fsync and rename; a full disk is a one-line error). A writer opened with a
``resume_key`` writes the resumable ``<name>.partial`` instead and keeps it when interrupted;
opening it again with the same key continues after the last committed batch (the key is the
hash of everything that determines the events, so a changed configuration never mixes with
an old partial file). Reading applies the limits of :class:`calolab.data.hdf5.ReadLimits`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from calolab.core.errors import ConfigError, DataError, OutputError
from calolab.core.files import check_input, check_output, partial_path
from calolab.data.hdf5 import H5Output, HDF5Writer, ReadLimits, open_hdf5, read_rows
from calolab.data.showers import Ragged
from calolab.events.images import CHANNELS, ImageConfig, make_images, normalize
from calolab.events.objects import TOWER_COLUMNS, TRACK_COLUMNS, EventObjects

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
KIND = "event_images"


def _version() -> str:
    from calolab.core.provenance import package_version

    __version__ = package_version()

    return __version__


def _image_chunk_rows(config: ImageConfig) -> int:
    per_event = 4 * int(np.prod(config.shape))
    return int(max(1, min(256, (1 << 20) // per_event)))


@dataclass
class ImageBatch:
    """Images (GeV, ``(n, 3, n_eta, n_phi)``), labels ``(n,)`` and per-event info."""

    images: np.ndarray
    labels: np.ndarray
    info: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.images.shape[0])


class ImageWriter(HDF5Writer):
    """Streams event images (and the objects they came from) into one HDF5 file.

    Parameters
    ----------
    path:
        Output file; written as ``<path>.partial`` and renamed by :meth:`close`.
    config:
        Image geometry.
    classes:
        Class names; labels index into this list.
    provenance:
        What made the events (stored as JSON).
    resume_key:
        If given, an interrupted partial file is kept, and a partial file with the same key
        is continued (``self.n`` says how many events it already holds).
    inputs:
        Files the run reads (the output must be none of them).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        config: ImageConfig,
        classes: Sequence[str],
        provenance: dict[str, Any] | None = None,
        *,
        resume_key: str | None = None,
        compression_level: int = 4,
        store_objects: bool = True,
        inputs: Sequence[str | os.PathLike[str]] = (),
    ):
        self.path = Path(path)
        self.config = config
        self.classes = [str(c) for c in classes]
        if not self.classes or len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"classes {self.classes} must be a non-empty list of unique names")
        self.provenance = provenance or {}
        self.resume_key = resume_key
        self.level = compression_level
        self.store_objects = store_objects
        self.n = 0
        self.out = H5Output(path, inputs=inputs, resumable=resume_key is not None)
        try:
            if not (self.out.resumed and self._reopen()):
                if self.out.resumed:
                    self.out.restart()
                with self._writing():
                    self._create()
        except BaseException:
            self.abort()
            raise

    # -- creation / resume -------------------------------------------------------------
    def _ds(self, name: str, row_shape: tuple[int, ...], dtype: Any, rows: int) -> None:
        assert self.f is not None
        big = bool(row_shape) and int(np.prod(row_shape)) > 4
        self.f.create_dataset(
            name,
            shape=(0, *row_shape),
            maxshape=(None, *row_shape),
            dtype=dtype,
            chunks=(rows, *row_shape),
            compression="gzip" if big else None,
            compression_opts=self.level if big else None,
            shuffle=big,
        )

    def _create(self) -> None:
        f = self.f
        assert f is not None
        self._ds("images", self.config.shape, np.float32, _image_chunk_rows(self.config))
        self._ds("labels", (), np.int32, 4096)
        g = f.create_group("calolab")
        g.attrs["kind"] = KIND
        g.attrs["format_version"] = FORMAT_VERSION
        g.attrs["calolab_version"] = _version()
        g.attrs["classes"] = json.dumps(self.classes)
        g.attrs["channels"] = json.dumps(list(CHANNELS))
        g.attrs["image_config"] = json.dumps(self.config.to_dict(), sort_keys=True)
        g.attrs["provenance"] = json.dumps(self.provenance, sort_keys=True, default=str)
        g.attrs["n_events"] = 0
        g.attrs["n_committed"] = 0
        if self.resume_key is not None:
            g.attrs["resume_key"] = self.resume_key
        g.create_group("info")
        if not self.store_objects:
            return
        for name, cols in (("towers", TOWER_COLUMNS), ("tracks", TRACK_COLUMNS)):
            f.create_dataset(
                f"calolab/objects/{name}/offsets",
                data=np.zeros(1, np.int64),
                maxshape=(None,),
                chunks=(4096,),
            )
            for c in cols:
                f.create_dataset(
                    f"calolab/objects/{name}/{c}",
                    shape=(0,),
                    maxshape=(None,),
                    dtype=np.float32,
                    chunks=(65536,),
                    compression="gzip",
                    compression_opts=self.level,
                    shuffle=True,
                )

    def _reopen(self) -> bool:
        """Continue the partial file after its last commit; False if it must start again."""
        f = self.f
        assert f is not None
        try:
            g = f.get("calolab")
            key = None if g is None else g.attrs.get("resume_key")
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            log.warning("partial file %s is damaged (%s); starting again", self.tmp, exc)
            return False
        if key != self.resume_key or g is None:
            log.warning(
                "partial file %s was made with another configuration; starting again", self.tmp
            )
            return False
        try:
            self._truncate_to_commit(f, g)
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            log.warning("partial file %s is damaged (%s); starting again", self.tmp, exc)
            return False
        self.out.check()  # type: ignore[union-attr]
        log.info("resuming %s after %d events", self.tmp, self.n)
        return True

    def _truncate_to_commit(self, f: h5py.File, g: h5py.Group) -> None:
        n = int(g.attrs.get("n_committed", 0))
        # drop anything written after the last commit
        f["images"].resize(n, axis=0)
        f["labels"].resize(n, axis=0)
        for k in g["info"]:
            g["info"][k].resize(n, axis=0)
        self.store_objects = "objects" in g
        for name in ("towers", "tracks") if self.store_objects else ():
            og = g["objects"][name]
            off = og["offsets"]
            off.resize(n + 1, axis=0)
            m = int(off[n])
            for c in og:
                if c != "offsets":
                    og[c].resize(m, axis=0)
        self.n = n

    # -- writing -------------------------------------------------------------------------
    def __enter__(self) -> ImageWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        elif self.resume_key is not None and self.n > 0:
            self.suspend()
        else:
            self.abort()

    def append(
        self,
        objects: EventObjects,
        labels: np.ndarray | int,
        images: np.ndarray | None = None,
    ) -> None:
        """Append events: their objects, class labels ``(n,)`` (or one label for all) and
        optionally precomputed images (otherwise made here with the writer's config)."""
        if self.out is None:
            raise OutputError("writer is closed")
        n = len(objects)
        if n == 0:
            return
        lab = np.broadcast_to(np.asarray(labels, dtype=np.int32), (n,))
        if lab.min() < 0 or lab.max() >= len(self.classes):
            raise DataError(f"labels {np.unique(lab)} outside [0, {len(self.classes) - 1}]")
        if images is None:
            images = make_images(objects, self.config)
        if images.shape != (n, *self.config.shape):
            raise DataError(f"images have shape {images.shape}, expected {(n, *self.config.shape)}")
        with self._writing() as f:
            g = f["calolab"]
            self._append(f["images"], images.astype(np.float32, copy=False))
            self._append(f["labels"], lab)
            if self.n == 0 and not len(g["info"]):
                for k, v in objects.info.items():
                    self._ds(f"calolab/info/{k}", v.shape[1:], v.dtype, 4096)
            if set(g["info"]) != set(objects.info):
                raise DataError(
                    f"events carry info {sorted(objects.info)} but the file has "
                    f"{sorted(g['info'])}"
                )
            for k, v in objects.info.items():
                self._append(g["info"][k], v)
            stored = (("towers", objects.towers), ("tracks", objects.tracks))
            for name, r in stored if self.store_objects else ():
                og = g["objects"][name]
                base = int(og["offsets"][-1])
                self._append(og["offsets"], r.offsets[1:] + base)
                for c in og:
                    if c != "offsets":
                        self._append(og[c], np.asarray(r.columns[c], dtype=np.float32))
            g.attrs["n_committed"] = self.n + n
            f.flush()
        self.n += n

    def _finish_attrs(self) -> None:
        assert self.f is not None
        if self.n == 0:
            raise OutputError(f"no events were written to '{self.path}'")
        g = self.f["calolab"]
        g.attrs["n_events"] = self.n
        if "resume_key" in g.attrs:
            del g.attrs["resume_key"]
        del g.attrs["n_committed"]

    def suspend(self) -> None:
        """Close, keeping the partial file for a later resume."""
        tmp = self.tmp if self.out is not None else self.path
        super().suspend()
        log.warning("kept the unfinished %s (%d events); run again to resume", tmp, self.n)


class ImageFile:
    """Lazy reader of an event-image file written by :class:`ImageWriter`.

    ``allow_external`` and ``limits`` are those of :class:`calolab.data.hdf5.ShowerFile`:
    hostile files (external links or storage, declared sizes beyond what is stored or fits
    in memory, bomb chunks) are refused with a :class:`DataError` naming the limit.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        allow_external: bool | None = None,
        limits: ReadLimits | None = None,
    ):
        self.path = Path(path)
        if not self.path.exists():
            hint = ""
            if partial_path(self.path).exists():
                hint = (
                    " (an unfinished '.partial' file exists: run the same command again to resume)"
                )
            raise DataError(f"image file '{self.path}' does not exist{hint}")
        self.limits = (limits or ReadLimits.from_env()).replace(allow_external=allow_external)
        self.f = open_hdf5(self.path, self.limits, what="image file")
        try:
            self._validate()
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
            self.f.close()
            raise DataError(
                f"'{self.path}' is damaged or not an event-image file ({type(exc).__name__}: "
                f"{exc})"
            ) from None
        except Exception:
            self.f.close()
            raise

    def _validate(self) -> None:
        f = self.f
        g = f.get("calolab")
        if g is None or g.attrs.get("kind") != KIND:
            what = "a shower dataset" if "showers" in f else "not a calolab event-image file"
            raise DataError(
                f"'{self.path}' is {what}; event-image files are made by "
                "'calolab events generate' or 'calolab events import'"
            )
        if int(g.attrs.get("format_version", 0)) > FORMAT_VERSION:
            raise DataError(
                f"'{self.path}' has format version {g.attrs['format_version']}, newer than this "
                f"calolab understands ({FORMAT_VERSION}); upgrade calolab"
            )
        try:
            self.classes: list[str] = json.loads(str(g.attrs["classes"]))
            self.channels: list[str] = json.loads(str(g.attrs["channels"]))
            self.config = ImageConfig.from_dict(json.loads(str(g.attrs["image_config"])))
            self.provenance: dict[str, Any] = json.loads(str(g.attrs.get("provenance", "{}")))
        except (KeyError, ValueError, ConfigError) as exc:
            raise DataError(f"'{self.path}': event-image metadata is damaged ({exc})") from None
        imgs, labels = f.get("images"), f.get("labels")
        if imgs is None or labels is None:
            raise DataError(f"'{self.path}' lacks the 'images' or 'labels' dataset")
        if imgs.shape[1:] != self.config.shape:
            raise DataError(
                f"'{self.path}': images have shape {imgs.shape[1:]} but the stored image "
                f"config says {self.config.shape}"
            )
        if labels.shape != (imgs.shape[0],):
            raise DataError(f"'{self.path}': {labels.shape[0]} labels for {imgs.shape[0]} images")
        self.n_events = int(imgs.shape[0])
        need = self.n_events * 64  # labels, info and bookkeeping loaded whole
        if need > self.limits.max_memory_bytes:
            raise DataError(
                f"'{self.path}' declares {self.n_events:,} events, whose labels and per-event "
                f"information alone need {need / 2**30:,.1f} GiB, more than the "
                f"{self.limits.max_memory_bytes / 2**30:,.1f} GiB allowed; raise the limit with "
                "max_memory_bytes= (CLI: --max-memory-mb) if this machine has the memory"
            )

    def __len__(self) -> int:
        return self.n_events

    def close(self) -> None:
        self.f.close()

    def __enter__(self) -> ImageFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def rows(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows ``[start, stop)`` of dataset ``name`` (compressed chunks inflated with
        bounded output, :func:`calolab.data.hdf5.read_rows`)."""
        ds = self.f[name]
        stop = ds.shape[0] if stop is None else stop
        return read_rows(ds, start, stop, f"'{self.path}': dataset '{name}'")

    def take(self, name: str, indices: np.ndarray) -> np.ndarray:
        """Rows ``indices`` (sorted, increasing) of dataset ``name``, read as one block."""
        idx = np.asarray(indices, dtype=np.int64)
        if not len(idx):
            ds = self.f[name]
            return np.empty((0, *ds.shape[1:]), dtype=ds.dtype)
        lo = int(idx[0])
        return self.rows(name, lo, int(idx[-1]) + 1)[idx - lo]

    @property
    def labels(self) -> np.ndarray:
        """All labels ``(N,)`` int64."""
        return np.asarray(self.rows("labels"), dtype=np.int64)

    @property
    def info_names(self) -> list[str]:
        return sorted(self.f["calolab/info"])

    @property
    def has_objects(self) -> bool:
        return "calolab/objects/towers/offsets" in self.f

    def read(self, start: int = 0, stop: int | None = None) -> ImageBatch:
        """Events ``[start, stop)``: images in GeV, labels and info."""
        stop = self.n_events if stop is None else min(stop, self.n_events)
        start = max(0, min(start, stop))
        images = np.asarray(self.rows("images", start, stop), dtype=np.float32)
        if not np.isfinite(images).all():
            bad = np.flatnonzero(~np.isfinite(images.reshape(len(images), -1)).all(axis=1))
            raise DataError(
                f"'{self.path}': images have NaN or infinite values in event {start + int(bad[0])}"
            )
        labels = np.asarray(self.rows("labels", start, stop), dtype=np.int64)
        info = {k: self.rows(f"calolab/info/{k}", start, stop) for k in self.info_names}
        return ImageBatch(images, labels, info)

    def read_objects(self, start: int = 0, stop: int | None = None) -> EventObjects:
        """The towers and tracks of events ``[start, stop)``."""
        if not self.has_objects:
            raise DataError(f"'{self.path}' does not store the towers and tracks")
        stop = self.n_events if stop is None else min(stop, self.n_events)
        start = max(0, min(start, stop))
        parts = {}
        for name in ("towers", "tracks"):
            og = self.f[f"calolab/objects/{name}"]
            base = f"calolab/objects/{name}"
            off = np.asarray(self.rows(f"{base}/offsets", start, stop + 1), dtype=np.int64)
            if (
                len(off) != stop - start + 1
                or np.any(np.diff(off) < 0)
                or (len(off) and off[0] < 0)
            ):
                raise DataError(
                    f"'{self.path}': the {name} offsets of events {start}-{stop} are invalid"
                )
            cols = {
                c: self.rows(f"{base}/{c}", int(off[0]), int(off[-1])) for c in og if c != "offsets"
            }
            parts[name] = Ragged(off - off[0], cols)
        info = {k: self.rows(f"calolab/info/{k}", start, stop) for k in self.info_names}
        return EventObjects(parts["towers"], parts["tracks"], info)

    def iter_batches(self, batch_size: int = 256) -> Iterator[ImageBatch]:
        for a in range(0, self.n_events, batch_size):
            yield self.read(a, a + batch_size)

    def summary(self) -> dict[str, Any]:
        labels = self.labels
        return {
            "path": str(self.path),
            "kind": KIND,
            "n_events": self.n_events,
            "classes": {c: int((labels == i).sum()) for i, c in enumerate(self.classes)},
            "channels": self.channels,
            "image": self.config.to_dict(),
            "info": self.info_names,
            "objects_stored": self.has_objects,
            "provenance": self.provenance,
        }


def load_normalized(
    f: ImageFile, config: ImageConfig, indices: np.ndarray, read_batch: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``indices`` of an open file, normalised with ``config`` (float16,
    ``(n, 3, n_eta, n_phi)``, values 0–255 or GeV), and their pixel sums in GeV ``(n,)``.

    The file is read in contiguous blocks of ``read_batch`` events; non-finite pixels are
    a :class:`DataError` naming the event.
    """
    idx = np.asarray(indices, dtype=np.int64)
    images = np.empty((len(idx), *config.shape), dtype=np.float16)
    sums = np.empty(len(idx))
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    for a in range(0, len(sorted_idx), read_batch):
        sel = sorted_idx[a : a + read_batch]
        block = np.asarray(f.take("images", sel), dtype=np.float32)
        finite = np.isfinite(block.reshape(len(block), -1)).all(axis=1)
        if not finite.all():
            bad = int(sel[np.flatnonzero(~finite)[0]])
            raise DataError(f"'{f.path}': event {bad} has NaN or infinite pixels")
        dest = order[a : a + read_batch]
        sums[dest] = block.sum(axis=(1, 2, 3), dtype=np.float64)
        images[dest] = normalize(block, config)
    return images, sums


def read_images(
    path: str | os.PathLike[str], start: int = 0, stop: int | None = None
) -> ImageBatch:
    """Read events ``[start, stop)`` of an event-image file into memory."""
    with ImageFile(path) as f:
        return f.read(start, stop)


def image_file_classes(path: str) -> list[str] | None:
    """The class names of an event-image file, or ``None`` if ``path`` is not one (or not a
    regular file: a FIFO is never opened)."""
    try:
        check_input(path)
    except DataError:
        return None
    try:
        with h5py.File(path, "r") as f:
            g = f.get("calolab")
            if g is None or g.attrs.get("kind") != "event_images":
                return None
            return list(json.loads(str(g.attrs["classes"])))
    except (OSError, KeyError, ValueError, RuntimeError, TypeError):
        return None


def merge_image_files(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    classes: Sequence[str] | None = None,
    seed: int | None = 0,
    batch_size: int = 256,
) -> Path:
    """Join event-image files into one labelled dataset.

    Classes are matched by name (the union, in order of first appearance, unless
    ``classes`` fixes the order). With a ``seed`` the events are shuffled (a reproducible
    permutation), so that any contiguous split holds every class; ``seed=None`` keeps the
    input order. All inputs must have the same image geometry; the output must be none of
    them.
    """
    if not inputs:
        raise ConfigError("merge needs at least one input file")
    check_output(output, inputs=inputs)
    files: list[ImageFile] = []
    try:
        for p in inputs:
            files.append(ImageFile(p))
    except BaseException:
        for f in files:
            f.close()
        raise
    try:
        geo = files[0].config.geometry()
        for f in files[1:]:
            if f.config.geometry() != geo:
                raise DataError(
                    f"'{f.path}' has image geometry {f.config.geometry()} but "
                    f"'{files[0].path}' has {geo}; re-image one of them (calolab events reimage)"
                )
        names: list[str] = []
        for f in files:
            for c in f.classes:
                if c not in names:
                    names.append(c)
        if classes is not None:
            classes = [str(c) for c in classes]
            missing = sorted(set(names) - set(classes))
            if missing:
                raise ConfigError(f"classes {classes} do not include {missing} found in the inputs")
            names = classes
        info_keys = set(files[0].info_names)
        for f in files[1:]:
            info_keys &= set(f.info_names)
        store_objects = all(f.has_objects for f in files)
        maps = [np.array([names.index(c) for c in f.classes], dtype=np.int32) for f in files]
        pairs = np.concatenate(
            [np.stack([np.full(len(f), i), np.arange(len(f))], axis=1) for i, f in enumerate(files)]
        )
        if seed is not None:
            pairs = pairs[np.random.default_rng(seed).permutation(len(pairs))]
        prov = {
            "merged_from": [
                {
                    "path": str(f.path),
                    "n_events": len(f),
                    "classes": f.classes,
                    "provenance": f.provenance,
                }
                for f in files
            ],
            "shuffle_seed": seed,
        }
        with ImageWriter(
            output, files[0].config, names, prov, store_objects=store_objects, inputs=inputs
        ) as w:
            for a in range(0, len(pairs), batch_size):
                block = pairs[a : a + batch_size]
                parts, imgs, labs = [], [], []
                order = []
                for i, f in enumerate(files):
                    sel = np.flatnonzero(block[:, 0] == i)
                    if not len(sel):
                        continue
                    idx = block[sel, 1]
                    srt = np.argsort(idx)
                    idx_sorted = idx[srt]
                    img = f.take("images", idx_sorted)
                    lab = maps[i][np.asarray(f.take("labels", idx_sorted))]
                    info = {k: f.take(f"calolab/info/{k}", idx_sorted) for k in info_keys}
                    if store_objects:
                        obj = _objects_at(f, idx_sorted, info)
                    else:
                        obj = _no_objects(len(idx_sorted), info)
                    parts.append(obj)
                    imgs.append(img)
                    labs.append(lab)
                    order.append(sel[srt])
                pos = np.concatenate(order)
                inv = np.empty_like(pos)
                inv[pos] = np.arange(len(pos))
                obj = EventObjects.concatenate(parts).subset(inv)
                w.append(obj, np.concatenate(labs)[inv], np.concatenate(imgs)[inv])
    finally:
        for f in files:
            f.close()
    return Path(output)


def _objects_at(f: ImageFile, idx: np.ndarray, info: dict[str, np.ndarray]) -> EventObjects:
    parts = {}
    for name in ("towers", "tracks"):
        og = f.f[f"calolab/objects/{name}"]
        off = np.asarray(f.rows(f"calolab/objects/{name}/offsets"), dtype=np.int64)
        lo, hi = off[idx], off[idx + 1]
        if np.any(hi < lo) or (len(lo) and lo.min() < 0):
            raise DataError(f"'{f.path}': the {name} offsets are invalid")
        a, b = int(lo.min()), int(hi.max())
        cols_all = {c: f.rows(f"calolab/objects/{name}/{c}", a, b) for c in og if c != "offsets"}
        sel: Any = np.concatenate([np.arange(x, y) for x, y in zip(lo, hi)]) - a if len(idx) else []
        counts = hi - lo
        offsets = np.zeros(len(idx) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        parts[name] = Ragged(offsets, {c: v[sel] for c, v in cols_all.items()})
    return EventObjects(parts["towers"], parts["tracks"], info)


def _no_objects(n: int, info: dict[str, np.ndarray]) -> EventObjects:
    from calolab.events.objects import empty_ragged

    return EventObjects(empty_ragged(n, TOWER_COLUMNS), empty_ragged(n, TRACK_COLUMNS), info)


def reimage_file(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    config: ImageConfig,
    *,
    batch_size: int = 256,
) -> Path:
    """Rebuild the images of a file from its stored towers and tracks with another config."""
    check_output(output, inputs=[path])
    with ImageFile(path) as f:
        if not f.has_objects:
            raise DataError(f"'{f.path}' does not store towers and tracks; it cannot be re-imaged")
        prov = {"reimaged_from": str(f.path), "source_provenance": f.provenance}
        with ImageWriter(output, config, f.classes, prov, inputs=[path]) as w:
            for a in range(0, len(f), batch_size):
                obj = f.read_objects(a, a + batch_size)
                w.append(obj, np.asarray(f.rows("labels", a, a + batch_size)))
    return Path(output)
