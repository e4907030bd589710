"""Counters and cooldowns, in this worker's memory or shared through Redis."""
