"""The full customer id of every transaction, checked against the customers' table.

The lake's int64 key is only the last 16 hex digits of a customer id, so a transaction whose id
is unknown but ends like a known customer's would be credited to that customer. Each transaction
batch's ids are compared in full: the key looks up the customer (a hash index over the customers'
keys), then a 64-bit hash of the other 48 digits must match (a different id passing needs a
2**-64 chance). Ids whose key is unknown are
left to validation (the foreign-key check names them), and so are customers sharing a key
(validation refuses customers.csv then; nothing is checked against it here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from recsys import schema
from recsys.data.ids import hex_parts


@dataclass(frozen=True)
class KnownCustomers:
    """The customers' keys (a hash index) and a hash of the other 48 digits of their ids."""

    index: pd.Index
    prefixes: np.ndarray  # uint64 hash of the first 48 digits, row i for index[i]

    @classmethod
    def of(cls, customers: pa.Table) -> KnownCustomers:
        """From a table with ``customer_id`` (int64 keys) and ``customer_hex`` (full ids)."""
        keys = customers.column(schema.CUSTOMER_ID).to_numpy()
        _, prefixes, _ = hex_parts(customers.column(schema.CUSTOMER_HEX))
        return cls(pd.Index(keys), prefixes)

    def strangers(self, keys: np.ndarray, prefixes: np.ndarray) -> np.ndarray:
        """Positions of the ids whose key is a known customer's but whose full id is not."""
        if not self.index.is_unique:
            return np.empty(0, np.int64)
        found = self.index.get_indexer(keys)
        differ = (self.prefixes[found] != prefixes) & (found >= 0)  # -1: unknown, not compared
        return np.flatnonzero(differ)
