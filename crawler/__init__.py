"""certwatch's Scrapy project and the application around it."""
__version__ = "0.1.0"
