"""Inbound HTTP values and mechanics: request and response values, CORS, disconnects, deadlines."""
