"""The ``.lsru`` accessor on search-result DataFrames: act on a selection of scenes.

Registered when ``lsru_geo`` is imported; ``GeoDataFrame`` inherits it from ``DataFrame``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._espa import Espa, Order


@pd.api.extensions.register_dataframe_accessor("lsru")
class LsruAccessor:
    """Landsat helpers on scene frames returned by :meth:`Usgs.search` (any frame with a ``display_id`` column).

    Examples
    --------
    >>> from lsru_geo import Usgs
    >>> scenes = Usgs().search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4.0, 44.0), begin="2019-06-01", end="2019-06-30")
    >>> order = scenes[scenes.cloud_cover < 50].lsru.order(products=["l1"])
    >>> order.status
    'ordered'
    """

    _required = ("display_id",)

    def __init__(self, frame: pd.DataFrame) -> None:
        missing = [column for column in self._required if column not in frame.columns]
        if missing:  # pandas' accessor contract: AttributeError, so hasattr(frame, "lsru") is False
            raise AttributeError(f".lsru needs the column(s) {missing}; build the frame with Usgs.search()")
        self._frame = frame

    def order(self, products: list[str], *, espa: Espa | None = None, **options: Any) -> Order | list[Order]:
        """Order ESPA processing of these scenes.

        Parameters
        ----------
        products : list of str
            Product codes, as for :meth:`Espa.order`.
        espa : Espa, optional
            The client to use; a new one from the default configuration otherwise.
        **options
            ``format``, ``note``, ``resampling``, ``resolution``, ``projection``, ``extent``, ``extent_units``,
            ``verbose``: see :meth:`Espa.order`.

        Returns
        -------
        Order or list of Order
            A list when more than 5,000 scenes were split into several orders.
        """
        ids = self._frame["display_id"].dropna().astype(str).tolist()
        return (espa or Espa()).order(ids, products=products, **options)
