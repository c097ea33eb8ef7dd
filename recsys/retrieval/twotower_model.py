"""The two-tower network (PyTorch): article and customer towers, in-batch softmax training.

Imported lazily by :mod:`recsys.retrieval.twotower` so that ``import recsys`` never loads torch.
Index 0 of every embedding table is the out-of-vocabulary / padding slot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

N_DYN_BUCKETS = 16  # popularity and article-age buckets (0..15)


@dataclass(frozen=True)
class TowerSizes:
    """Vocabulary sizes and widths of a :class:`TwoTower` (all JSON-able ints)."""

    n_articles: int  # article vocabulary, OOV slot excluded
    feature_vocab: tuple[int, ...]  # per categorical article column, unknown slot excluded
    n_customers: int  # customer-id vocabulary, OOV slot excluded
    n_age: int  # age buckets, unknown excluded
    hidden: int
    dim: int


class TwoTower(nn.Module):
    """Article tower: id + categorical + dynamic (popularity, age) embeddings -> MLP -> unit vector.
    Customer tower: id + age-bucket embeddings + mean of the static article embeddings of the bag
    (recent purchases, context) -> MLP -> unit vector."""

    def __init__(self, sizes: TowerSizes, article_codes: np.ndarray) -> None:
        super().__init__()
        h = sizes.hidden
        self.register_buffer("codes", torch.as_tensor(article_codes, dtype=torch.long))
        self.article_id = nn.Embedding(sizes.n_articles + 1, h, sparse=True)
        self.features = nn.ModuleList(nn.Embedding(v + 1, h) for v in sizes.feature_vocab)
        self.popularity = nn.Embedding(N_DYN_BUCKETS, h)
        self.article_age = nn.Embedding(N_DYN_BUCKETS, h)
        self.customer_id = nn.Embedding(sizes.n_customers + 1, h, sparse=True)
        self.age = nn.Embedding(sizes.n_age + 1, h)
        self.article_mlp = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, sizes.dim))
        self.customer_mlp = nn.Sequential(nn.Linear(3 * h, h), nn.ReLU(), nn.Linear(h, sizes.dim))
        for table in (self.article_id, self.customer_id):  # untrained ids contribute nothing
            nn.init.zeros_(table.weight)
        for table in (*self.features, self.popularity, self.article_age, self.age):
            nn.init.normal_(table.weight, std=0.1)

    def static_article(self, art: torch.Tensor) -> torch.Tensor:
        """Time-free article embeddings (id + categorical features) of article indices ``art``."""
        out = self.article_id(art)
        codes = self.codes[art]
        for j, table in enumerate(self.features):
            out = out + table(codes[..., j])
        return out

    def articles(self, art: torch.Tensor, pop: torch.Tensor, age: torch.Tensor) -> torch.Tensor:
        """Unit article vectors for indices ``art`` with popularity and age buckets."""
        x = self.static_article(art) + self.popularity(pop) + self.article_age(age)
        return F.normalize(self.article_mlp(x), dim=-1)

    def customers(self, cust: torch.Tensor, age: torch.Tensor, bag: torch.Tensor) -> torch.Tensor:
        """Unit customer vectors from id index, age bucket and bag (n x L article ids, 0 = pad)."""
        mask = (bag > 0).to(torch.float32)
        weights = mask / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
        bag_mean = F.embedding_bag(
            bag, self.article_id.weight, mode="sum", per_sample_weights=weights, sparse=True
        )
        codes = self.codes[bag]
        for j, table in enumerate(self.features):
            bag_mean = bag_mean + F.embedding_bag(
                codes[..., j], table.weight, mode="sum", per_sample_weights=weights
            )
        x = torch.cat([self.customer_id(cust), self.age(age), bag_mean], dim=-1)
        return F.normalize(self.customer_mlp(x), dim=-1)


@dataclass(frozen=True)
class Batches:
    """Training examples as parallel arrays (one row per customer-article pair)."""

    cust: np.ndarray
    age: np.ndarray
    bag: np.ndarray
    art: np.ndarray
    pop: np.ndarray
    art_age: np.ndarray
    weight: np.ndarray
    logq: np.ndarray  # log sampling probability of each row's article


def in_batch_loss(
    model: TwoTower, b: dict[str, torch.Tensor], temperature: float, logq: bool
) -> torch.Tensor:
    """Weighted in-batch softmax: each customer against every article of the batch."""
    u = model.customers(b["cust"], b["age"], b["bag"])
    v = model.articles(b["art"], b["pop"], b["art_age"])
    logits = u @ v.T / temperature
    if logq:
        logits = logits - b["logq"].unsqueeze(0)
    same = b["art"].unsqueeze(0) == b["art"].unsqueeze(1)
    eye = torch.eye(len(u), dtype=torch.bool, device=u.device)
    logits = logits.masked_fill(same & ~eye, float("-inf"))  # a duplicate is no negative
    loss = F.cross_entropy(logits, torch.arange(len(u), device=u.device), reduction="none")
    return (loss * b["weight"]).sum() / b["weight"].sum()


def batches(data: Batches, batch_size: int, rng: np.random.Generator) -> Iterator[dict]:
    """Shuffled mini-batches (as tensors) of ``data``; the last partial batch is kept if > 1."""
    order = rng.permutation(len(data.art))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        if len(idx) < 2:
            continue
        yield {
            name: torch.as_tensor(getattr(data, name)[idx])
            for name in ("cust", "age", "bag", "art", "pop", "art_age", "weight", "logq")
        }


@contextlib.contextmanager
def deterministic(threads: int, strict: bool = True) -> Iterator[None]:
    """Fixed thread count and deterministic kernels (only warnings unless ``strict``: CUDA
    matmuls need CUBLAS_WORKSPACE_CONFIG), restored afterwards."""
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=not strict)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old_det)
        torch.set_num_threads(old_threads)


def train(
    model: TwoTower,
    data: Batches,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    temperature: float,
    logq: bool,
    seed: int,
    threads: int = 2,
    device: str = "cpu",
) -> list[float]:
    """Adam over shuffled in-batch-softmax batches; returns the mean loss of each epoch."""
    rng = np.random.default_rng(seed)
    model.to(device).train()
    sparse = [model.article_id.weight, model.customer_id.weight]  # id tables: row-wise updates
    dense = [p for p in model.parameters() if all(p is not q for q in sparse)]
    opts = [torch.optim.SparseAdam(sparse, lr=lr), torch.optim.Adam(dense, lr=lr)]
    losses = []
    for _ in range(epochs):
        total, n = 0.0, 0
        for batch in batches(data, batch_size, rng):
            batch = {k: t.to(device) for k, t in batch.items()}
            loss = in_batch_loss(model, batch, temperature, logq)
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in opts:
                opt.step()
            total, n = total + float(loss.detach()), n + 1
        losses.append(total / max(n, 1))
    model.to("cpu").eval()
    return losses


def encode(fn, arrays: tuple[np.ndarray, ...], chunk: int = 16384) -> np.ndarray:
    """``fn`` over row chunks of ``arrays`` without gradients, as one float32 numpy array."""
    n = len(arrays[0])
    out = []
    with torch.no_grad():
        for start in range(0, n, chunk):
            parts = [torch.as_tensor(a[start : start + chunk]) for a in arrays]
            out.append(fn(*parts).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def rows_map(old_ids: np.ndarray, new_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Embedding rows (1-based, 0 = OOV) of the ids in both sorted vocabularies: (old, new)."""
    _, old_pos, new_pos = np.intersect1d(old_ids, new_ids, return_indices=True)
    return old_pos.astype(np.int64) + 1, new_pos.astype(np.int64) + 1


def transfer(
    old: TwoTower,
    new: TwoTower,
    articles: tuple[np.ndarray, np.ndarray],
    customers: tuple[np.ndarray, np.ndarray],
) -> None:
    """Copy ``old``'s weights into ``new``: the id tables row by row for the ids in both
    vocabularies (``articles``/``customers`` = (old ids, new ids), sorted), every other parameter
    whole (shapes must match). Rows of ids only ``new`` knows keep their initial values."""
    by_id = {"article_id.weight": articles, "customer_id.weight": customers}
    src = old.state_dict()
    with torch.no_grad():
        for name, param in new.named_parameters():
            if name in by_id:
                old_rows, new_rows = rows_map(*by_id[name])
                param[torch.as_tensor(new_rows)] = src[name][torch.as_tensor(old_rows)]
            elif src[name].shape == param.shape:
                param.copy_(src[name])
            else:
                raise ValueError(f"{name}: shape {tuple(src[name].shape)} != {param.shape}")
