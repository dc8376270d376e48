"""``python -m crawler.cli``: the certwatch command line."""
import sys

from crawler.cli.main import main

sys.exit(main())
