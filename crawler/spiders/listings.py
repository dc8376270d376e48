"""``listings``: marketplaces, classifieds and forums, through their own search."""
from crawler.spiders.base import ProfileSpider


class ListingsSpider(ProfileSpider):
    name = "listings"
    kinds = ("marketplace", "classifieds", "forum")
