"""The pages and documents Patchbay serves about itself: landing page, docs, OpenAPI."""
