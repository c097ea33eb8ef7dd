"""Evaluation (see the issues that build it)."""
