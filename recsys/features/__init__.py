"""Features (see the issues that build it)."""
