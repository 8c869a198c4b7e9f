from .canning import (
    Reference,
    can,
    can_map,
    uncan,
    uncan_map,
    use_cloudpickle,
    use_dill,
    use_pickle,
)
from .serialize import (
    PrePickled,
    deserialize_object,
    pack_apply_message,
    serialize_object,
    unpack_apply_message,
)

__all__ = (
    'Reference',
    'PrePickled',
    'can_map',
    'uncan_map',
    'can',
    'uncan',
    'use_dill',
    'use_cloudpickle',
    'use_pickle',
    'serialize_object',
    'deserialize_object',
    'pack_apply_message',
    'unpack_apply_message',
)
