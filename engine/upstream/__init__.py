"""The one HTTP client to upstream providers and search engines."""
