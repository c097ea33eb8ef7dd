"""Ranking (see the issues that build it)."""
