"""MLflow "models from code" entry point of the recommender pyfunc.

MLflow loads this file by path when a logged ``hm-ranker`` version is loaded (no pickles); the
library never imports it. ``predict(DataFrame[customer_id])`` ranks like the batch: history (for
interaction features) from the lake and customer/article features from the snapshot of the
package's cutoff, both under the project home it was trained in (``HM_HOME`` overrides).
"""

import os
from pathlib import Path

import mlflow
import pandas as pd

from recsys.schema import K
from recsys.settings import get_settings


class RecommenderPyfunc(mlflow.pyfunc.PythonModel):
    """``predict(DataFrame[customer_id]) -> customer_id, article_id, score, rank, source``."""

    def load_context(self, context) -> None:
        from recsys.ranking.package import RecommenderPackage

        self.package = RecommenderPackage.load(Path(context.artifacts["package"]))
        home = os.environ.get("HM_HOME") or (context.model_config or {}).get("home")
        self.settings = get_settings(home=home)
        self._history = self._features = None

    def _reader(self):
        """The snapshot features of the package's cutoff (read once)."""
        if self._features is None:
            from recsys.ranking.features import SnapshotFeatures

            self._features = SnapshotFeatures(self.settings, self.package.cutoff)
        return self._features

    def history(self):
        """The lake's history before the package's cutoff (loaded once)."""
        if self._history is None:
            from recsys.data.lake import Lake
            from recsys.retrieval.history import load_history

            self._history = load_history(Lake(self.settings.paths.lake), self.package.cutoff)
        return self._history

    def predict(
        self, context, model_input: pd.DataFrame, params: dict[str, int] | None = None
    ) -> pd.DataFrame:
        from recsys.ranking.batch import rank_customers

        k = int((params or {}).get("k", K))
        customers = model_input["customer_id"].to_numpy("int64")
        return rank_customers(self.package, customers, self.history(), self._reader(), k)


mlflow.models.set_model(RecommenderPyfunc())
