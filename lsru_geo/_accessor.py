"""The ``.lsru`` accessor on search-result DataFrames: act on a selection of scenes.

Registered when ``lsru_geo`` is imported; ``GeoDataFrame`` inherits it from ``DataFrame``. The accessor stays
thin: coverage math lives in :mod:`._coverage`, drawing in :mod:`.plotting`. Methods never modify the frame
they are called on; those that select scenes return a new frame with the same index and CRS.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from . import _coverage
from ._espa import Espa, Order
from .exceptions import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import folium
    import geopandas as gpd
    import xarray as xr
    from matplotlib.axes import Axes

#: ``predicate`` values of :meth:`LsruAccessor.intersecting`, read as ``footprint <predicate> aoi``.
PREDICATES = ("intersects", "covers", "contains", "within", "overlaps")


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

    # -- ordering ------------------------------------------------------------------------------------------

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

    # -- downloading and opening ---------------------------------------------------------------------------

    def download(self, path: Any, bands: list[str] | None = None, *, usgs: Any = None, **options: Any) -> pd.DataFrame:
        """Download these scenes' Level-1 or Level-2 products straight from USGS (see :meth:`Usgs.download`).

        Parameters
        ----------
        path : str or path-like
            Folder to download into.
        bands : list of str, optional
            Only these files (``'red'``, ``'SR_B4'``, ``'qa_pixel'``, ...), into ``<path>/<product id>/``;
            whole bundles (``<path>/<product id>.tar``) otherwise.
        usgs : Usgs, optional
            The client to use; a new, logged-in one from the default configuration otherwise.
        **options
            ``workers``, ``overwrite``, ``poll``, ``timeout``, ``progress``: see :meth:`Usgs.download`.

        Returns
        -------
        DataFrame
            A copy of the frame with a ``local_path`` column (the bundle, or the folder of band files, of each
            row), ready for :meth:`open` and :meth:`open_stack`.
        """
        from pathlib import Path

        from ._m2m import Usgs

        client = usgs or Usgs()
        written = set(client.download(self._frame, path, bands=bands, **options))
        folder = Path(path)
        located = self._frame.copy()
        # a bundle where USGS delivered one; otherwise the folder of the scene's files (bands asked for, or
        # a bundle USGS lists as unavailable)
        located["local_path"] = [
            str(folder / f"{pid}.tar") if folder / f"{pid}.tar" in written else str(folder / pid)
            for pid in self._frame["display_id"].astype(str)
        ]
        return located

    def open(self, row: Any = None, **options: Any) -> xr.Dataset:
        """Open one downloaded scene lazily (see :func:`lsru_geo.open_scene`).

        Parameters
        ----------
        row : index label, optional
            Which row; may be left out when the frame has one row.
        **options
            ``bands``, ``mask_and_scale``, ``chunks``.
        """
        from ._open import open_scene

        paths = self._local_paths()
        if row is None:
            if len(paths) != 1:
                raise InvalidInputError(
                    f"the frame has {len(paths)} rows: pass row= (an index label), or use open_stack()"
                )
            return open_scene(paths.iloc[0], **options)
        if row not in paths.index:
            raise InvalidInputError(f"no row {row!r} in the frame")
        return open_scene(paths.loc[row], **options)

    def open_stack(self, **options: Any) -> xr.Dataset:
        """Open every downloaded scene as one lazy time stack (see :func:`lsru_geo.open_stack`).

        Parameters
        ----------
        **options
            ``bands``, ``crs``, ``resolution``, ``bounds``, ``chunks``, ``mask_and_scale``, ``groupby``,
            ``resampling``.
        """
        from ._open import open_stack

        return open_stack(self._local_paths().tolist(), **options)

    def _local_paths(self) -> pd.Series:
        if "local_path" not in self._frame.columns:
            raise InvalidInputError(
                "the frame has no local_path column: download the scenes first with .lsru.download()"
            )
        paths = self._frame["local_path"].dropna()
        if paths.empty:
            raise InvalidInputError("no row of the frame has a local_path")
        return paths.astype(str)

    # -- selection by area of interest ---------------------------------------------------------------------

    def intersecting(self, aoi: Any, *, predicate: str = "intersects") -> gpd.GeoDataFrame:
        """Keep the scenes whose footprint polygon meets the AOI (not only its bounding box).

        Parameters
        ----------
        aoi : shapely geometry, GeoJSON dict, GeoSeries or GeoDataFrame
            Shapely geometries and GeoJSON are lon/lat; GeoSeries and GeoDataFrames may be in any CRS.
        predicate : {'intersects', 'covers', 'contains', 'within', 'overlaps'}
            Spatial test read as ``footprint <predicate> aoi``; ``'covers'`` keeps scenes that cover the
            whole AOI.

        Returns
        -------
        geopandas.GeoDataFrame
            The matching rows, in their order, with their index and CRS.

        Raises
        ------
        InvalidInputError
            For an AOI of the wrong type, empty or degenerate, or an unknown predicate.

        Examples
        --------
        >>> from shapely.geometry import box
        >>> from lsru_geo import Usgs
        >>> scenes = Usgs().search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4, 44), begin="2019-06-01", end="2019-06-30")
        >>> inside = scenes.lsru.intersecting(box(3.6, 43.5, 3.9, 43.9))
        >>> len(inside) <= len(scenes), inside.crs == scenes.crs
        (True, True)
        """
        if predicate not in PREDICATES:
            raise InvalidInputError(f"predicate must be one of {PREDICATES}; got {predicate!r}")
        area = _coverage.prepare_aoi(aoi)
        footprints = self._lonlat()
        keep = np.zeros(len(footprints), dtype=bool)
        near = area.candidates(footprints)
        if near.any():
            projected = area.project(footprints[near])
            keep[near] = getattr(shapely, predicate)(projected, area.geometry) & ~shapely.is_missing(projected)
        return self._frame[keep]

    def coverage(self, aoi: Any, *, per: str = "date") -> pd.DataFrame:
        """How much of the AOI each scene covers, and how much all the scenes of its date (or period) cover.

        Areas are measured in an equal-area projection centred on the AOI, so the fractions are true
        shares of the ground, at any latitude and across the antimeridian (lines are measured by length
        and points counted, when the AOI is a line or points).

        Parameters
        ----------
        aoi : shapely geometry, GeoJSON dict, GeoSeries or GeoDataFrame
            Shapely geometries and GeoJSON are lon/lat; GeoSeries and GeoDataFrames may be in any CRS.
        per : {'date', 'week', 'month', 'quarter', 'year'}
            Grouping of ``period_coverage``: by acquisition date by default (weeks end on Sunday).

        Returns
        -------
        pandas.DataFrame
            Indexed like the frame, with columns ``coverage`` (share of the AOI inside the scene's footprint,
            0-1), ``period`` (a ``pandas.Period``; NaT when ``acquired`` is unknown) and
            ``period_coverage`` (share of the AOI inside the union of the footprints of that period,
            0-1; NaN without a period).

        Raises
        ------
        InvalidInputError
            For a bad AOI or ``per``, or a frame without footprints or ``acquired``.

        Examples
        --------
        >>> from shapely.geometry import box
        >>> from lsru_geo import Usgs
        >>> scenes = Usgs().search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4, 44), begin="2019-06-01", end="2019-06-30")
        >>> table = scenes.lsru.coverage(box(3.6, 43.5, 3.9, 43.9))
        >>> list(table.columns)
        ['coverage', 'period', 'period_coverage']
        >>> per_date = table.groupby("period")["period_coverage"].first()  # one value per acquisition date
        """
        _coverage.check_per(per)
        area = _coverage.prepare_aoi(aoi)
        pieces = area.clip(self._lonlat())
        periods = _coverage.period_labels(self._column("acquired").to_numpy(), per)
        codes, _ = pd.factorize(periods)
        unions = _coverage.group_fractions(pieces, codes, area)
        union = np.where(codes >= 0, unions[np.maximum(codes, 0)] if len(unions) else np.nan, np.nan)
        return pd.DataFrame(
            {"coverage": area.fraction(pieces), "period": periods.array, "period_coverage": union},
            index=self._frame.index,
        )

    def best(
        self, aoi: Any, per: str = "month", *, max_cloud: float | None = None, min_coverage: float = 0.99
    ) -> gpd.GeoDataFrame:
        """Pick, for each period, the least cloudy scenes that together cover the AOI.

        Within each period the scenes are visited from the least to the most cloudy (ties: larger coverage
        of the AOI first, then earlier acquisition, then ``display_id``; unknown cloud cover last). A
        scene is kept when it adds AOI area that the scenes kept before it do not cover, and the visit
        stops once they cover ``min_coverage`` of the AOI together. This greedy set cover is deterministic:
        the same frame always gives the same selection. A period whose scenes cannot reach
        ``min_coverage`` keeps every scene that added area; its ``period_coverage`` says how far it got.

        Parameters
        ----------
        aoi : shapely geometry, GeoJSON dict, GeoSeries or GeoDataFrame
            Shapely geometries and GeoJSON are lon/lat; GeoSeries and GeoDataFrames may be in any CRS.
        per : {'date', 'week', 'month', 'quarter', 'year'}
            Length of the periods.
        max_cloud : float, optional
            Leave out scenes cloudier than this (percent, 0-100), and those of unknown cloud cover.
        min_coverage : float
            Share of the AOI (0-1] at which a period is complete.

        Returns
        -------
        geopandas.GeoDataFrame
            The kept rows (original index and CRS), sorted by period then picking order, with three more
            columns: ``period``, ``coverage`` (the scene's own share of the AOI) and ``period_coverage``
            (share covered by the scenes kept for that period). Periods without a usable scene are absent.

        Raises
        ------
        InvalidInputError
            For a bad AOI, ``per``, ``max_cloud`` or ``min_coverage``, or a frame without footprints,
            ``acquired`` or ``cloud_cover``.

        Examples
        --------
        >>> from shapely.geometry import box
        >>> from lsru_geo import Usgs
        >>> scenes = Usgs().search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4, 44), begin="2019-06-01", end="2019-09-30")
        >>> picks = scenes.lsru.best(box(3.6, 43.5, 3.9, 43.9), per="month", max_cloud=80)
        >>> complete = picks[picks.period_coverage >= 0.99]
        """
        _coverage.check_per(per)
        max_cloud = _coverage.check_percent(max_cloud, "max_cloud")
        min_coverage = _coverage.check_fraction(min_coverage, "min_coverage")
        area = _coverage.prepare_aoi(aoi)
        cloud = pd.to_numeric(self._column("cloud_cover"), errors="coerce").to_numpy(dtype=float)
        periods = _coverage.period_labels(self._column("acquired").to_numpy(), per)
        pieces = area.clip(self._lonlat())
        fractions = area.fraction(pieces)
        table = pd.DataFrame(
            {
                "position": np.arange(len(pieces)),
                "period": periods.array,
                "cloud": cloud,
                "coverage": fractions,
                "acquired": pd.to_datetime(self._column("acquired").to_numpy(), errors="coerce"),
                "display_id": self._frame["display_id"].astype(str).to_numpy(),
            }
        )
        usable = (table["coverage"] > 0) & table["period"].notna()
        if max_cloud is not None:
            usable &= table["cloud"] <= max_cloud  # NaN (unknown) compares False: left out
        ranked = table[usable].sort_values(
            ["period", "cloud", "coverage", "acquired", "display_id"],
            ascending=[True, True, False, True, True],
            na_position="last",
            kind="mergesort",
        )
        picked: list[int] = []
        reached: list[float] = []
        for _, group in ranked.groupby("period", sort=True):
            positions, share = _coverage.greedy_cover(pieces, group["position"].tolist(), area, min_coverage)
            picked += positions
            reached += [share] * len(positions)
        result = self._frame.iloc[picked].copy()
        result["period"] = periods.array[picked]
        result["coverage"] = fractions[picked]
        result["period_coverage"] = np.asarray(reached, dtype=float)
        return result

    def observation_count(
        self, aoi: Any, *, resolution: float | None = None, weighted: bool = False, max_cloud: float | None = None
    ) -> xr.DataArray:
        """Count, per pixel of a grid over the AOI, the scenes whose footprint covers it.

        Parameters
        ----------
        aoi : shapely geometry, GeoJSON dict, GeoSeries or GeoDataFrame
            A polygonal area of interest (lon/lat for shapely and GeoJSON; any CRS for GeoSeries).
        resolution : float, optional
            Pixel size in metres; by default 256 pixels across the AOI's longer side.
        weighted : bool
            Weight each scene by its clear share, ``1 - cloud_cover / 100``, giving the *expected* number of
            clear observations per pixel (scenes of unknown cloud cover then count 0).
        max_cloud : float, optional
            Count only scenes at most this cloudy (percent); scenes of unknown cloud cover are left out.

        Returns
        -------
        xarray.DataArray
            Dims ``(y, x)`` of pixel centres in metres, north up, NaN outside the AOI, in the equal-area
            projection centred on the AOI (its WKT is in the ``spatial_ref`` coordinate, as rioxarray reads
            it, and in ``attrs['crs']``).

        Raises
        ------
        InvalidInputError
            For a bad or non-polygonal AOI, ``resolution`` or ``max_cloud``.
        """
        import xarray as xr

        max_cloud = _coverage.check_percent(max_cloud, "max_cloud")
        area = _coverage.prepare_aoi(aoi)
        weights = np.ones(len(self._frame))
        if weighted or max_cloud is not None:
            cloud = pd.to_numeric(self._column("cloud_cover"), errors="coerce").to_numpy(dtype=float)
            if weighted:
                weights = np.nan_to_num(1.0 - cloud / 100.0, nan=0.0).clip(0.0, 1.0)
            if max_cloud is not None:
                weights = np.where(cloud <= max_cloud, weights, 0.0)
        values, x, y = _coverage.observation_grid(area.clip(self._lonlat()), weights, area, resolution)
        wkt = area.crs.to_wkt()
        name = (
            "expected clear observations"
            if weighted
            else (f"observations with cloud cover <= {max_cloud:g}%" if max_cloud is not None else "observations")
        )
        return xr.DataArray(
            values,
            dims=("y", "x"),
            coords={"y": y, "x": x, "spatial_ref": xr.DataArray(0, attrs={"crs_wkt": wkt, "spatial_ref": wkt})},
            name="observations",
            attrs={"long_name": name, "crs": wkt, "grid_mapping": "spatial_ref"},
        )

    # -- plots ---------------------------------------------------------------------------------------------

    def plot(self, aoi: Any = None, column: str = "cloud_cover", ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Draw the footprints coloured by ``column`` (or ``'count'``: overlapping scenes), with the AOI outlined.

        See :func:`lsru_geo.plotting.plot_footprints` for the options. Needs matplotlib.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .plotting import plot_footprints

        return plot_footprints(self._frame, aoi, column, ax, **kwargs)

    def plot_observations(
        self,
        aoi: Any,
        *,
        resolution: float | None = None,
        weighted: bool = False,
        max_cloud: float | None = None,
        ax: Axes | None = None,
        **kwargs: Any,
    ) -> Axes:
        """Map how many (clear) observations cover each pixel of the AOI; see :meth:`observation_count`.

        ``**kwargs`` go to :func:`lsru_geo.plotting.plot_observations`. Needs matplotlib.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .plotting import plot_observations

        counts = self.observation_count(aoi, resolution=resolution, weighted=weighted, max_cloud=max_cloud)
        return plot_observations(counts, ax, **kwargs)

    def plot_timeline(self, ax: Axes | None = None, *, by: str = "satellite", **kwargs: Any) -> Axes:
        """Plot the acquisitions on a time axis, one row per satellite, coloured by cloud cover.

        See :func:`lsru_geo.plotting.plot_timeline` for the options. Needs matplotlib.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .plotting import plot_timeline

        return plot_timeline(self._frame, ax, by=by, **kwargs)

    def browse(
        self, n: int | None = 6, *, size: str = "rrb", ax: Any = None, ncols: int | None = None, timeout: float = 30.0
    ) -> np.ndarray:
        """Fetch and show the browse images (LandsatLook quick-looks) of the first ``n`` scenes.

        See :func:`lsru_geo.plotting.plot_browse`. Needs matplotlib.

        Returns
        -------
        numpy.ndarray of matplotlib.axes.Axes
            One per image shown.

        Raises
        ------
        NotFoundError, ServerError, RateLimitError, ApiError, TransportError
            When an image cannot be fetched (after a few retries for transient failures).
        """
        from .plotting import plot_browse

        return plot_browse(self._frame, n, size=size, ax=ax, ncols=ncols, timeout=timeout)

    def explore(
        self, aoi: Any = None, column: str | None = "cloud_cover", *, m: folium.Map | None = None, **kwargs: Any
    ) -> folium.Map:
        """Map the footprints (and the AOI) interactively with folium, through :meth:`GeoDataFrame.explore`.

        Parameters
        ----------
        aoi : shapely geometry, GeoJSON dict, GeoSeries or GeoDataFrame, optional
            Drawn as a red outline.
        column : str or None
            Colours the footprints (``cloud_cover`` by default).
        m : folium.Map, optional
            Add to this map instead of a new one.
        **kwargs
            Passed to :meth:`geopandas.GeoDataFrame.explore` (``tooltip``, ``cmap``, ``tiles``...).

        Returns
        -------
        folium.Map

        Raises
        ------
        ImportError
            When folium, mapclassify or matplotlib is not installed (``pip install 'lsru-geo[explore]'``).
        """
        missing = [name for name in ("folium", "mapclassify", "matplotlib") if importlib.util.find_spec(name) is None]
        if missing:  # geopandas would say so too, but not how to get them with lsru_geo
            raise ImportError(
                f"gdf.lsru.explore() needs folium, mapclassify and matplotlib ({', '.join(missing)} missing); "
                "install them with: pip install 'lsru-geo[explore]'  (or: pip install folium mapclassify matplotlib)"
            )
        frame = self._geoframe()
        if column is not None and column not in frame.columns:
            raise InvalidInputError(f"column must be None or one of {list(frame.columns)}; got {column!r}")
        periods = [c for c in frame.columns if isinstance(frame[c].dtype, pd.PeriodDtype)]
        frame = frame.astype({c: str for c in periods})  # folium serialises columns to JSON, which has no Period
        tooltip = [c for c in ("display_id", "acquired", "cloud_cover", "path", "row") if c in frame.columns]
        options = {
            "tooltip": tooltip,
            "cmap": "viridis_r" if column == "cloud_cover" else "viridis",
            "style_kwds": {"fillOpacity": 0.3, "weight": 1},
            "name": "scenes",
            **kwargs,
        }
        m = frame.explore(column=column, m=m, **options)
        if aoi is not None:
            from .plotting import _aoi_in

            _aoi_in(aoi, 4326).explore(m=m, color="crimson", name="AOI", style_kwds={"fill": False, "weight": 3})
        return m

    # -- helpers -------------------------------------------------------------------------------------------

    def _geoframe(self) -> gpd.GeoDataFrame:
        import geopandas as gpd

        frame = self._frame
        if not isinstance(frame, gpd.GeoDataFrame) or frame._geometry_column_name not in frame.columns:
            raise InvalidInputError(
                "this needs a GeoDataFrame of footprints, as Usgs.search() returns; got a plain DataFrame"
            )
        return frame

    def _lonlat(self) -> np.ndarray:
        """Return the footprints in EPSG:4326 as an object array (a frame without a CRS is taken as lon/lat)."""
        geometry = self._geoframe().geometry
        if geometry.crs is not None and geometry.crs.to_epsg() != 4326:
            geometry = geometry.to_crs(4326)
        return np.asarray(geometry.array, dtype=object)

    def _column(self, name: str) -> pd.Series:
        if name not in self._frame.columns:
            raise InvalidInputError(f"the frame has no {name!r} column; build it with Usgs.search()")
        return self._frame[name]
