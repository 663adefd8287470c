"""The JSON API under /api/v1 for the ministry's other systems and mobile clients."""
