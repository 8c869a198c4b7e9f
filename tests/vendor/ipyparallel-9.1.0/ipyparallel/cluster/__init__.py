from .cluster import *  # noqa
