"""The ``certwatch`` command line, the one place that composes crawler/,
pipelines/ and reports/. ``main`` (the console script) parses and dispatches;
one module per command group; ``common`` holds what they share and imports
no command module."""
from crawler.cli.main import main  # noqa: F401
