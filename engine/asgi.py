"""`hypercorn engine.asgi:app` (or uvicorn's, Granian's): the config directory comes
from PATCHBAY_CONFIG_DIR.

This is the module a worker process serves, so the worker's garbage collector is set
up here, once the app is built.
"""

import gc

from engine.app import create_app
from engine.runtime import Runtime

_quart = create_app()
# The server calls the front door itself (one call layer less per API request); the
# Quart app behind it serves the pages and the lifespan events.
app = _quart.asgi_app
runtime: Runtime = _quart.config["PATCHBAY_RUNTIME"]

# What exists now (modules, the first snapshot, templates) lives as long as the worker:
# the cyclic collector need not walk it again in every full collection. (Should a reload
# replace the first snapshot, any reference cycles in it stay: once, a few kB.)
gc.freeze()
# Requests free almost everything they allocate by reference counting, yet with the
# default threshold (700) the count of live young objects crosses it every few requests
# and each young collection walks the objects of every request in flight: about 2.5%
# of a busy worker's time. At 10,000 it runs only when garbage cycles pile up.
gc.set_threshold(10_000, 10, 10)
