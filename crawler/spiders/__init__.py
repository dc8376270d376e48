"""Spiders: one per kind of source, driven by platform profiles."""
