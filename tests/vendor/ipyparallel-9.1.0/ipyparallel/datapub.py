from .engine.datapub import publish_data  # noqa: F401
