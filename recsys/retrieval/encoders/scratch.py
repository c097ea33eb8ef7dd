"""A small transformer trained from scratch on the catalogue's own text (no pretrained weights).

Tokens are lower-cased words from the catalogue (a vocabulary of the most frequent ones). The
model is trained contrastively: the header of an article (name, type, colour, department) and its
description (plus type) are two views that must match each other among the batch (InfoNCE), with
in-batch articles of the same product not counted as negatives. The article vector is the
mean-pooled encoding of the full text. Deterministic given ``seed``; CPU-fast (2 layers, 64-d).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from recsys.retrieval.encoders import l2_normalize
from recsys.retrieval.encoders.pretrained import _field

PAD, UNK = 0, 1
WORD = re.compile(r"[a-z0-9]+")


def article_views(articles: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(header, body) texts per article: the attributes and the description (+ type)."""
    header = (
        _field(articles, "prod_name")
        + " "
        + _field(articles, "product_type_name")
        + " "
        + _field(articles, "colour_group_name")
        + " "
        + _field(articles, "perceived_colour_master_name")
        + " "
        + _field(articles, "department_name")
        + " "
        + _field(articles, "section_name")
        + " "
        + _field(articles, "garment_group_name")
    )
    body = _field(articles, "product_type_name") + " " + _field(articles, "detail_desc")
    return header.str.lower(), body.str.lower()


def build_vocab(texts: pd.Series, max_size: int = 8000, min_count: int = 2) -> dict[str, int]:
    """Word -> id for the ``max_size`` most frequent words (ties alphabetical); 0 pad, 1 unknown."""
    counts = texts.str.findall(WORD).explode().value_counts()
    counts = counts[counts >= min_count]
    frame = pd.DataFrame({"w": counts.index, "n": counts.to_numpy()})
    words = frame.sort_values(["n", "w"], ascending=[False, True])["w"].head(max_size - 2)
    return {w: i + 2 for i, w in enumerate(words)}


def tokenize(texts: pd.Series, vocab: dict[str, int], max_len: int) -> np.ndarray:
    """Padded token ids (n x max_len, int64)."""
    out = np.zeros((len(texts), max_len), np.int64)
    words = pd.Series(texts.to_numpy()).str.findall(WORD).explode().dropna()
    if words.empty:
        return out
    rows = words.index.to_numpy()
    col = words.groupby(level=0).cumcount().to_numpy()
    ids = words.map(vocab).fillna(UNK).to_numpy(np.int64)
    keep = col < max_len
    out[rows[keep], col[keep]] = ids[keep]
    return out


def make_model(vocab_size: int, dim: int, layers: int, heads: int, max_len: int):
    """Embedding + learned positions + a small TransformerEncoder, mean pooled."""
    import torch
    from torch import nn

    class TinyEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok = nn.Embedding(vocab_size, dim, padding_idx=PAD)
            self.pos = nn.Embedding(max_len, dim)
            layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True)
            self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            mask = ids == PAD
            pos = torch.arange(ids.shape[1], device=ids.device)
            h = self.enc(self.tok(ids) + self.pos(pos), src_key_padding_mask=mask)
            keep = (~mask).unsqueeze(-1).float()
            return (h * keep).sum(1) / keep.sum(1).clamp(min=1.0)

    return TinyEncoder()


def _drop_tokens(ids, rate: float, gen):
    """Randomly blank ``rate`` of the tokens (keeps at least one token per row)."""
    import torch

    drop = (torch.rand(ids.shape, generator=gen) < rate) & (ids != PAD)
    drop[:, 0] = False
    return ids.masked_fill(drop, PAD)


def _contrastive_loss(model, a, b, groups, temperature: float):
    """Symmetric InfoNCE between the two views; same-product pairs off the diagonal are masked."""
    import torch
    import torch.nn.functional as F

    za = F.normalize(model(a), dim=1)
    zb = F.normalize(model(b), dim=1)
    logits = za @ zb.T / temperature
    same = (groups[:, None] == groups[None, :]) & ~torch.eye(len(groups), dtype=torch.bool)
    logits = logits.masked_fill(same, -1e4)
    target = torch.arange(len(groups))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def train(
    model,
    header: np.ndarray,
    body: np.ndarray,
    groups: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    temperature: float = 0.05,
) -> None:
    """Train ``model`` in place on (header, body) pairs for ``epochs`` passes."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    h, b, g = torch.from_numpy(header), torch.from_numpy(body), torch.from_numpy(groups)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(h), generator=gen)
        for start in range(0, len(h) - 1, batch_size):
            idx = perm[start : start + batch_size]
            if len(idx) < 2:
                continue
            loss = _contrastive_loss(
                model,
                _drop_tokens(h[idx], 0.15, gen),
                _drop_tokens(b[idx], 0.15, gen),
                g[idx],
                temperature,
            )
            opt.zero_grad()
            loss.backward()
            opt.step()


def embed(model, ids: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Mean-pooled encodings of ``ids`` (eval mode, no grad)."""
    import torch

    model.eval()
    with torch.no_grad():
        chunks = [
            model(torch.from_numpy(ids[i : i + batch_size])).numpy()
            for i in range(0, len(ids), batch_size)
        ]
    return np.concatenate(chunks) if chunks else np.zeros((0, 1), np.float32)


def encode_scratch(
    articles: pd.DataFrame,
    dim: int = 64,
    layers: int = 2,
    heads: int = 4,
    epochs: int = 1,
    batch_size: int = 256,
    lr: float = 2e-3,
    max_len: int = 32,
    vocab_size: int = 8000,
    seed: int = 42,
    threads: int = 2,
) -> np.ndarray:
    """``dim``-d unit vectors from a tiny transformer trained on the articles' text (aligned)."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    header, body = article_views(articles)
    vocab = build_vocab(pd.concat([header, body], ignore_index=True), vocab_size)
    h_ids, b_ids = tokenize(header, vocab, max_len), tokenize(body, vocab, max_len)
    full = tokenize(header + " " + body, vocab, 2 * max_len)
    groups = (
        pd.factorize(articles["product_code"])[0]
        if "product_code" in articles
        else np.arange(len(articles))
    )
    model = make_model(len(vocab) + 2, dim, layers, heads, 2 * max_len)
    if len(articles) > 1:
        train(model, h_ids, b_ids, np.asarray(groups, np.int64), epochs, batch_size, lr, seed)
    vecs = embed(model, full)
    return l2_normalize(vecs.reshape(len(articles), -1))
