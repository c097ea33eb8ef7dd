"""MLflow "models from code" entry point of the recommender pyfunc.

MLflow loads this file by path when a logged ``hm-ranker`` version is loaded (no pickles); it is
never imported by the library itself.
"""

import mlflow

from recsys.registry import RecommenderPyfunc

mlflow.models.set_model(RecommenderPyfunc())
