"""The review console (FastAPI + Jinja2, server-rendered Chinese pages)."""
