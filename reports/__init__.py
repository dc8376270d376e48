"""What people read and act on: the review console and report outputs."""
