"""`hypercorn engine.asgi:app`: the config directory comes from PATCHBAY_CONFIG_DIR."""

from engine.app import create_app

app = create_app()
