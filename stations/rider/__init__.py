"""rider."""
