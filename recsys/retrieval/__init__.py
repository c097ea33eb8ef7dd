"""Retrieval (see the issues that build it)."""
