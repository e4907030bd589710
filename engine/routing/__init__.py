"""Which target serves a request: strategies, retries, fallbacks and cooldowns."""
