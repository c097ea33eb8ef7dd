"""The online path: loads what the weekly loop published and ranks per request (FastAPI)."""
