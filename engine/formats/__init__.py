"""Wire formats: server-sent events and the shapes each inbound API speaks."""
