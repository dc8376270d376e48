"""certwatch's Scrapy project (spiders, middlewares, settings, the sandbox,
the scheduler) and, in ``crawler.cli``, the command line that composes
everything. Imports pipelines/ and keywords/; only the CLI imports reports/."""
from pipelines import __version__  # noqa: F401  (one version for the whole program)
