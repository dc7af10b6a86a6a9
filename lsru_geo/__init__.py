"""lsru_geo: search the USGS Landsat catalogue, order ESPA processing, download and open the products.

The public names of lsru 0.6.2 are kept (``Usgs``, ``Espa``, ``Order``, ``lsru_geo.utils``) and work against
today's services: the M2M JSON API with application tokens, Collection 2 datasets, and ESPA API v1.
"""

from . import _accessor, _xr_accessor, utils  # the accessors register DataFrame.lsru and Dataset.lsru
from ._espa import Espa, Order
from ._m2m import Usgs
from ._open import open_scene, open_stack
from ._secret import Secret
from ._version import __version__
from .exceptions import (
    ApiError,
    AuthenticationError,
    ChecksumError,
    ConfigError,
    DownloadError,
    InvalidInputError,
    LsruError,
    LsruWarning,
    NotFoundError,
    OrderRejectedError,
    RateLimitError,
    ServerError,
    TransportError,
)

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ChecksumError",
    "ConfigError",
    "DownloadError",
    "Espa",
    "InvalidInputError",
    "LsruError",
    "LsruWarning",
    "NotFoundError",
    "Order",
    "OrderRejectedError",
    "RateLimitError",
    "Secret",
    "ServerError",
    "TransportError",
    "Usgs",
    "__version__",
    "utils",
]
