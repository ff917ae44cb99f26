"""The portal's JSON API under /api."""
