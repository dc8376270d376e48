"""What people read and act on: the review console (reports/console), the
statistics table, takedown lists, referral packages, charts. Imports
pipelines/ (the store and shared functions) and keywords/, never crawler/."""
