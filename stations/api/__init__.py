"""The partner API under /api/v1: views, validation, caching, keys, limits, the OpenAPI document."""
