"""LightGBM boosters compiled to native code (lleaves), cached beside the model file.

The compiled forest evaluates the same trees with the same thresholds, missing-value rules and
objective transform as ``Booster.predict``, in double precision on the float32 inputs, so its
scores equal LightGBM's. Compiling takes seconds; the object code is written once next to
``model.txt`` under a name keyed on the file's hash and on the compiler and host CPU, so the
batch, the evaluation and the server load it in milliseconds and never run a stale one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHUNK = 1 << 16  # rows converted to float64 and scored per call (bounds the extra memory)
# One cache block holding every tree sums the trees in LightGBM's order (bit-identical scores);
# no inlining: compiling a 100-tree, 63-leaf forest takes ~10 s instead of minutes.
FLAGS = {"finline": False, "fcodemodel": "large"}
PARALLEL_ROWS = 4096  # below this many rows one thread is faster than a thread pool


@dataclass
class CompiledBooster:
    """A compiled forest: ``predict`` takes the float32 feature matrix ``Booster.predict`` takes."""

    model: object  # lleaves.Model, compiled
    n_features: int

    def predict(self, matrix: np.ndarray, threads: int = 1) -> np.ndarray:
        """Scores (float64) of the rows of ``matrix``, on up to ``threads`` threads."""
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise ValueError(f"expected (rows, {self.n_features}) features, got {matrix.shape}")
        out = np.empty(len(matrix), np.float64)
        for lo in range(0, len(matrix), CHUNK):
            chunk = np.ascontiguousarray(matrix[lo : lo + CHUNK], dtype=np.float64)
            jobs = max(1, threads) if len(chunk) >= PARALLEL_ROWS else 1
            out[lo : lo + len(chunk)] = self.model.predict(chunk, n_jobs=jobs)
        return out


def target_tag() -> str:
    """The compiler and host CPU the object code is built for (part of the cache key)."""
    from importlib.metadata import version

    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # LLVM cannot read the features: the CPU name must do
        features = ""
    parts = [version("lleaves"), llvm.llvm_version_info, llvm.get_process_triple(), FLAGS]
    return " ".join(map(str, [*parts, llvm.get_host_cpu_name(), features]))


def cache_path(model_file: Path) -> Path:
    """Where the object code of ``model_file`` is cached (beside it, keyed on content + host)."""
    digest = hashlib.sha256(Path(model_file).read_bytes())
    digest.update(target_tag().encode())
    return Path(model_file).with_name(f"{Path(model_file).stem}.{digest.hexdigest()[:20]}.lleaves")


def compile_file(model_file: Path) -> CompiledBooster:
    """The compiled forest of a LightGBM text model, from the cache or compiled and cached.

    The object code is written to a temporary name and renamed into place, so concurrent
    loaders never read a partial file; a read-only folder just means no cache.
    """
    import lleaves

    model_file = Path(model_file)
    model = lleaves.Model(model_file=str(model_file))
    flags = {**FLAGS, "fblocksize": max(1, model.num_trees())}
    cached = cache_path(model_file)
    if cached.exists():
        model.compile(cache=str(cached), **flags)
        return CompiledBooster(model, model.num_feature())
    tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    try:
        model.compile(cache=str(tmp), **flags)
        os.replace(tmp, cached)
    except OSError:
        tmp.unlink(missing_ok=True)
        if not model.is_compiled:
            model.compile(**flags)
    return CompiledBooster(model, model.num_feature())


def compile_booster(booster: object, num_iteration: int | None) -> CompiledBooster:
    """The compiled forest of an in-memory booster's first ``num_iteration`` iterations."""
    with tempfile.TemporaryDirectory(prefix="lleaves-") as folder:
        model_file = Path(folder) / "model.txt"
        booster.save_model(str(model_file), num_iteration=num_iteration)
        return compile_file(model_file)


def carry_cache(source: Path, target: Path) -> None:
    """Copy ``source``'s cached object code beside ``target`` when the two models are the same."""
    import shutil

    cached = cache_path(source)
    if not cached.exists() or Path(source).read_bytes() != Path(target).read_bytes():
        return
    dest = cache_path(target)
    if dest.resolve() == cached.resolve():
        return
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.copyfile(cached, tmp)
    os.replace(tmp, dest)
