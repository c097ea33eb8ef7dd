"""Prefect flows: thin orchestration over ``recsys`` (weekly retraining and its stages)."""
