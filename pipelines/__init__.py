"""Everything that turns a fetched page into a judged finding: plain
functions (used by the CLI too) and the small Scrapy pipelines over them."""
