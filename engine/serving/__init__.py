"""Serving Patchbay: one of three ASGI servers, in this process or in N workers.

listen.py        binds the listening socket, with one clear line when it cannot
servers.py       the servers Patchbay runs on, which extra brings each, what each lacks
worker.py        one worker: the app, its signals, the graceful stop and its end
supervisor.py    N workers on one socket: spawned, replaced when one dies, stopped together
*_server.py      one module per server (the only one that imports it)
probe.py         the container health check, from the same settings as the server
"""
