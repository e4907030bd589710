"""Counters, cooldowns and cached answers, in this worker's memory or shared through Redis."""
