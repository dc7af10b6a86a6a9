"""Plots of search results: footprints over an AOI, observation counts, acquisition timelines, browse images.

Every function draws with matplotlib and returns what it drew on (an ``Axes``, or an array of them), so the
figure can be styled further or saved. matplotlib is imported inside the functions, never by
``import lsru_geo`` (it is a dependency, imported only when a plot is drawn). The same plots are available on
search results as ``gdf.lsru.plot()``, ``gdf.lsru.plot_observations()``, ``gdf.lsru.plot_timeline()``
and ``gdf.lsru.browse()``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import _coverage
from ._http import HttpClient, RetryPolicy, retry_after_seconds, status_error
from ._inputs import check_positive_int, to_geometry
from .exceptions import ApiError, InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import xarray as xr
    from matplotlib.axes import Axes

__all__ = [
    "BROWSE_SIZES",
    "fetch_browse",
    "plot_browse",
    "plot_footprints",
    "plot_observations",
    "plot_raster",
    "plot_timeline",
]

#: ``size`` values of LandsatLook browse URLs: ``rrb`` (about 1,000 px) and ``thumb`` (about 200 px).
BROWSE_SIZES = ("rrb", "thumb")
#: Browse fetches retry dropped connections and 429/502/503/504 a few times only: a quick look is not worth a long wait.
BROWSE_RETRY = RetryPolicy(attempts=3, base=0.5, cap=5.0, max_retry_after=30.0)
_PNG, _JPEG = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"
_AOI_STYLE = {"facecolor": "none", "edgecolor": "crimson", "linewidth": 2.0, "zorder": 5}
#: Above this many scenes, footprint maps draw each WRS-2 path/row once, shaded by its number of scenes: hundreds
#: of nearly identical overlapping polygons would hide each other.
GROUP_ABOVE = 100


def plot_footprints(
    frame: gpd.GeoDataFrame,
    aoi: Any = None,
    column: str = "cloud_cover",
    ax: Axes | None = None,
    *,
    cmap: str | None = None,
    alpha: float = 0.45,
    legend: bool = True,
    **kwargs: Any,
) -> Axes:
    """Draw scene footprints, coloured by a column or by how many scenes overlap, with the AOI on top.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        Scenes (search results), drawn in their own CRS.
    aoi : shapely geometry, GeoJSON dict, GeoSeries or GeoDataFrame, optional
        Outlined in red; with ``column='count'`` the overlap faces are also clipped to it.
    column : str
        ``'cloud_cover'`` (default), any other column of ``frame``, or ``'count'``: the footprints are cut
        into the faces of their overlay and each face is coloured by the number of scenes over it (a discrete
        colour bar). With ``'cloud_cover'`` and more than :data:`GROUP_ABOVE` scenes, each WRS-2 path/row is
        drawn once, outlined and shaded by its number of scenes, since hundreds of overlapping footprints would
        hide each other.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure otherwise.
    cmap : str, optional
        Colour map; by default ``'viridis_r'`` for cloud cover (clear scenes yellow, cloudy ones dark purple),
        ``'viridis'`` otherwise.
    alpha : float
        Opacity of the footprints.
    legend : bool
        Add a colour bar (or legend, for categorical columns).
    **kwargs
        Passed to :meth:`geopandas.GeoDataFrame.plot`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import geopandas as gpd
    import matplotlib.pyplot as plt

    frame = _require_geoframe(frame)
    if not isinstance(column, str) or (column != "count" and column not in frame.columns):
        allowed = ["count", *[c for c in frame.columns if c != frame.geometry.name]]
        raise InvalidInputError(f"column must be one of {allowed}; got {column!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6))
    outline = _aoi_in(aoi, frame.crs) if aoi is not None else None
    by_cell = column == "cloud_cover" and len(frame) > GROUP_ABOVE and {"path", "row"} <= set(frame.columns)
    cells = _path_rows(frame) if by_cell else None
    if column == "count":
        clip = outline.union_all() if outline is not None else None
        faces, counts = _coverage.overlap_faces(frame.geometry.values, clip)
        drawn = gpd.GeoDataFrame({"scenes": counts}, geometry=faces, crs=frame.crs)
        if len(drawn):
            cmap_, norm, ticks = _count_scale(int(drawn["scenes"].max()), cmap or "viridis")
            drawn.plot(
                column="scenes",
                ax=ax,
                cmap=cmap_,
                norm=norm,
                alpha=max(alpha, 0.7),
                legend=legend,
                legend_kwds={"label": "overlapping scenes", "ticks": ticks} if legend else None,
                edgecolor="none",
                **kwargs,
            )
        if len(frame):
            frame.boundary.plot(ax=ax, color="0.3", linewidth=0.4)
    elif cells is not None:
        cmap_, norm, ticks = _count_scale(
            int(cells["scenes"].max()), cmap or "viridis", lowest=int(cells["scenes"].min())
        )
        cells.plot(
            column="scenes",
            ax=ax,
            cmap=cmap_,
            norm=norm,
            alpha=max(alpha, 0.6),
            edgecolor="0.15",
            linewidth=0.8,
            legend=legend,
            legend_kwds={"label": "scenes per path/row", "ticks": ticks} if legend else None,
            **kwargs,
        )
        if len(cells) <= 40:  # labels stay legible up to a few dozen cells
            for _, cell in cells.iterrows():
                centre = cell.geometry.representative_point()
                ax.annotate(f"{cell.path}/{cell.row}", (centre.x, centre.y), ha="center", va="center", fontsize=7)
    else:
        # draw the cloudiest first, so that the clearest scenes end up on top
        drawn = frame.sort_values(column, ascending=False, na_position="first") if column == "cloud_cover" else frame
        values = drawn[column]
        if isinstance(values.dtype, pd.PeriodDtype) or pd.api.types.is_datetime64_any_dtype(values):
            drawn = drawn.assign(**{column: values.astype(str)})  # geopandas colours dates as categories only
        numeric = pd.api.types.is_numeric_dtype(drawn[column])
        extra = {"legend_kwds": {"label": _label(column)}} if legend and numeric else {}
        if len(drawn):
            drawn.plot(
                column=column,
                ax=ax,
                cmap=cmap or ("viridis_r" if column == "cloud_cover" else "viridis"),
                alpha=alpha,
                edgecolor="0.2",
                linewidth=0.5,
                legend=legend,
                missing_kwds={"color": "lightgrey", "label": "unknown"},
                **extra,
                **kwargs,
            )
    if outline is not None:
        outline.plot(ax=ax, **_AOI_STYLE)
        if column == "count":  # the faces are clipped to the AOI: frame it, with the footprints around as context
            left, bottom, right, top = outline.total_bounds
            margin = 0.25 * max(right - left, top - bottom)
            ax.set_xlim(left - margin, right + margin)
            ax.set_ylim(bottom - margin, top + margin)
    ax.set_title(
        f"{len(frame)} scene{'s' if len(frame) != 1 else ''}"
        + (f" in {len(cells)} path/rows" if cells is not None else "")
        + (" over the AOI" if outline is not None else "")
    )
    _label_axes(ax, frame.crs)
    return ax


def plot_observations(counts: xr.DataArray, ax: Axes | None = None, *, cmap: str = "viridis", **kwargs: Any) -> Axes:
    """Show a per-pixel observation count (``gdf.lsru.observation_count(aoi)``) as a map with a colour bar.

    Whole counts get a discrete colour bar, one colour and one tick per count; expected (weighted) counts a
    continuous one.

    Parameters
    ----------
    counts : xarray.DataArray
        Dims ``(y, x)``, NaN outside the AOI, as :meth:`~lsru_geo._accessor.LsruAccessor.observation_count`
        returns it; its ``long_name`` attribute labels the colour bar.
    ax : matplotlib.axes.Axes, optional
    cmap : str
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.imshow`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    values = np.asarray(counts, dtype=float)
    finite = values[np.isfinite(values)]
    whole = finite.size > 0 and bool(np.all(finite == np.round(finite)))
    name = counts.attrs.get("long_name", "observations")
    ax = plot_raster(
        counts, ax, cmap=cmap, label=name, discrete=whole, crs_name="equal-area projection centred on the AOI", **kwargs
    )
    if finite.size:
        ax.set_title(f"{name}: {finite.min():g} to {finite.max():g}")
    return ax


def plot_raster(
    data: xr.DataArray,
    ax: Axes | None = None,
    *,
    cmap: str = "viridis",
    label: str | None = None,
    discrete: bool = False,
    crs_name: str | None = None,
    **kwargs: Any,
) -> Axes:
    """Draw a projected ``(y, x)`` raster with axes in kilometres labelled with its CRS, and a colour bar.

    Parameters
    ----------
    data : xarray.DataArray
        Dims ``(y, x)`` with coordinates in metres (pixel centres), its CRS readable by rioxarray (or in
        ``attrs['crs']``).
    ax : matplotlib.axes.Axes, optional
    cmap : str
    label : str, optional
        Colour bar label; ``data.attrs['long_name']`` or its name by default.
    discrete : bool
        Whole-number values (counts): one colour and one tick per value.
    crs_name : str, optional
        How the axes name the CRS; its own name by default (``WGS 84 / UTM zone 12N``).
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.imshow` (``vmin``, ``vmax``, ...).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6))
    x, y = np.asarray(data["x"], dtype=float) / 1000, np.asarray(data["y"], dtype=float) / 1000
    half_x = abs(x[1] - x[0]) / 2 if len(x) > 1 else 0.5
    half_y = abs(y[0] - y[1]) / 2 if len(y) > 1 else 0.5
    north_up = len(y) < 2 or y[0] > y[1]
    extent = (
        (x[0] - half_x, x[-1] + half_x, y[-1] - half_y, y[0] + half_y)
        if north_up
        else (x[0] - half_x, x[-1] + half_x, y[0] - half_y, y[-1] + half_y)
    )
    values = np.asarray(data, dtype=float)
    options: dict[str, Any] = {"cmap": cmap}
    ticks = None
    if discrete:
        finite = values[np.isfinite(values)]
        cmap_, norm, ticks = _count_scale(int(finite.max()) if finite.size else 0, cmap, lowest=0)
        options = {"cmap": cmap_, "norm": norm}
    image = ax.imshow(
        values, extent=extent, origin="upper" if north_up else "lower", interpolation="nearest", **options, **kwargs
    )
    ax.figure.colorbar(image, ax=ax, label=label or data.attrs.get("long_name") or data.name or "", ticks=ticks)
    name = crs_name or _crs_name(data)
    ax.set_xlabel(f"x (km{', ' + name if name else ''})")
    ax.set_ylabel("y (km)")
    ax.set_aspect("equal")
    return ax


def plot_timeline(
    frame: pd.DataFrame,
    ax: Axes | None = None,
    *,
    by: str = "satellite",
    color: str = "cloud_cover",
    cmap: str = "viridis_r",
    **kwargs: Any,
) -> Axes:
    """Plot acquisitions as dots on a time axis, one row per satellite (or other ``by`` column).

    Parameters
    ----------
    frame : pandas.DataFrame
        Scenes with an ``acquired`` column.
    ax : matplotlib.axes.Axes, optional
    by : str
        Column naming the rows of the timeline; ``satellite`` rows are labelled "Landsat 8" and so on.
    color : str or None
        Numeric column colouring the dots (``cloud_cover`` by default; unknown values are grey); ``None``
        for one colour.
    cmap : str
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.scatter`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    for name, value in (("by", by), ("color", color)):
        if value is not None and value not in frame.columns:
            raise InvalidInputError(f"{name} must be a column of the frame ({list(frame.columns)}); got {value!r}")
    if "acquired" not in frame.columns:
        raise InvalidInputError("the frame has no 'acquired' column; build it with Usgs.search()")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 2.5 + 0.25 * frame[by].nunique()))
    when = pd.to_datetime(frame["acquired"])
    groups = sorted(frame[by].dropna().unique().tolist())
    labels = [f"Landsat {g}" if by == "satellite" else str(g) for g in groups]
    rows = frame[by].map({g: i for i, g in enumerate(groups)})
    known = rows.notna() & when.notna()
    if color is not None:
        values = pd.to_numeric(frame[color], errors="coerce")
        coloured = known & values.notna()
        grey = known & values.isna()
        dots = ax.scatter(
            when[coloured],
            rows[coloured],
            c=values[coloured],
            cmap=cmap,
            vmin=0,
            vmax=100 if color == "cloud_cover" else None,
            s=kwargs.pop("s", 40),
            edgecolors="0.2",
            linewidths=0.4,
            zorder=3,
            **kwargs,
        )
        if grey.any():
            ax.scatter(
                when[grey], rows[grey], c="lightgrey", s=40, edgecolors="0.2", linewidths=0.4, zorder=3, label="unknown"
            )
            ax.legend(loc="upper right", fontsize="small")
        if coloured.any():
            ax.figure.colorbar(dots, ax=ax, label=_label(color), pad=0.01)
    else:
        ax.scatter(when[known], rows[known], s=kwargs.pop("s", 40), zorder=3, **kwargs)
    ax.set_yticks(range(len(groups)), labels)
    ax.set_ylim(-0.75, len(groups) - 0.25)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("acquisition date")
    ax.set_title(f"{int(known.sum())} acquisitions")
    locator = mdates.AutoDateLocator()  # concise labels need no rotation, which would touch the user's other axes
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return ax


def fetch_browse(
    url: str, *, size: str | None = None, timeout: float = 30.0, client: HttpClient | None = None
) -> np.ndarray:
    """Download one browse image (PNG or JPEG) and return it as an array.

    Parameters
    ----------
    url : str
        A LandsatLook ``gen-browse`` URL, as in the ``browse_url`` column.
    size : {'rrb', 'thumb'}, optional
        Replace the URL's ``size=`` (``thumb`` is the ~200 px thumbnail).
    timeout : float
        Seconds to wait to connect and between bytes.
    client : HttpClient, optional
        Reuse a session (the default makes one per call).

    Returns
    -------
    numpy.ndarray
        ``(rows, columns, channels)`` uint8.

    Raises
    ------
    NotFoundError
        HTTP 404/410.
    RateLimitError, ServerError, ApiError
        HTTP 429, 5xx, or another error status or a body that is not an image.
    TransportError
        The host could not be reached or the timeout passed, after the retries.
    """
    from PIL import Image  # pillow comes with matplotlib

    if size is not None:
        url = _with_size(url, size)
    own = client is None
    client = client or HttpClient("browse", timeout=timeout, retry=BROWSE_RETRY)
    try:
        content = client.call("GET", url, lambda response: _browse_bytes(response, url))
    finally:
        if own:
            client.close()
    with Image.open(io.BytesIO(content)) as image:
        return np.asarray(image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB"))


def plot_browse(
    frame: pd.DataFrame,
    n: int | None = 6,
    *,
    size: str = "rrb",
    ax: Axes | Sequence[Axes] | None = None,
    ncols: int | None = None,
    timeout: float = 30.0,
) -> np.ndarray:
    """Fetch the browse images of the first ``n`` scenes and show them side by side.

    Parameters
    ----------
    frame : pandas.DataFrame
        Scenes with a ``browse_url`` column (rows without one are skipped).
    n : int or None
        Most images shown; ``None`` for every scene (or every Axes given).
    size : {'rrb', 'thumb'}
        Full browse (about 1,000 px) or thumbnail (about 200 px).
    ax : matplotlib Axes or sequence of Axes, optional
        Axes to fill, in order; a new figure with a grid of panels otherwise.
    ncols : int, optional
        Panels per row of a new figure (up to 4 by default).
    timeout : float
        Seconds allowed to connect and between bytes, per image.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        One per image shown, titled with the product id, date and cloud cover.

    Raises
    ------
    InvalidInputError
        For a bad ``n``, ``size`` or ``ncols``, or a frame without browse URLs.
    LsruError
        What :func:`fetch_browse` raises for the first image that fails.
    """
    import matplotlib.pyplot as plt

    if size not in BROWSE_SIZES:
        raise InvalidInputError(f"size must be one of {BROWSE_SIZES}; got {size!r}")
    if n is not None:
        check_positive_int(n, "n")
    if ncols is not None:
        check_positive_int(ncols, "ncols")
    if "browse_url" not in frame.columns:
        raise InvalidInputError("the frame has no 'browse_url' column; build it with Usgs.search()")
    axes_given = None if ax is None else np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
    rows = frame[frame["browse_url"].notna()]
    limit = min(x for x in (n, None if axes_given is None else len(axes_given), len(rows)) if x is not None)
    rows = rows.iloc[:limit]
    if not len(rows):
        raise InvalidInputError("no scene of the frame has a browse_url to show")
    client = HttpClient("browse", timeout=timeout, retry=BROWSE_RETRY)
    try:  # a few concurrent fetches: each image is a separate, slow-ish request
        with ThreadPoolExecutor(max_workers=min(4, len(rows))) as pool:
            images = list(pool.map(lambda u: fetch_browse(u, size=size, client=client), rows["browse_url"].tolist()))
    finally:
        client.close()
    if axes_given is None:
        columns = ncols or min(4, len(images))
        nrows = -(-len(images) // columns)
        _, grid = plt.subplots(
            nrows, columns, figsize=(3.8 * columns, 4.0 * nrows), squeeze=False, layout="constrained"
        )
        for extra in grid.ravel()[len(images) :]:
            extra.set_axis_off()
        axes = grid.ravel()[: len(images)]
    else:
        axes = axes_given[: len(images)]
    for axis, image, (_, row) in zip(axes, images, rows.iterrows(), strict=True):
        axis.imshow(image)
        axis.set_axis_off()
        axis.set_title(_browse_title(row), fontsize=7.5)
    return np.asarray(axes, dtype=object)


# -- helpers -------------------------------------------------------------------------------------------------


def _require_geoframe(frame: Any) -> gpd.GeoDataFrame:
    import geopandas as gpd

    if not isinstance(frame, gpd.GeoDataFrame) or frame._geometry_column_name not in frame.columns:
        raise InvalidInputError("this needs a GeoDataFrame with footprint geometries, as Usgs.search() returns")
    return frame


def _aoi_in(aoi: Any, crs: Any) -> gpd.GeoSeries:
    """Return the AOI as a one-row GeoSeries in ``crs`` (taken from its own CRS when it has one)."""
    import geopandas as gpd

    lonlat = to_geometry(aoi)  # the same checks, and errors, as everywhere else
    if hasattr(aoi, "to_crs") and getattr(aoi, "crs", None) is not None:
        series = gpd.GeoSeries([aoi.union_all()], crs=aoi.crs)  # from its own CRS: no detour through lon/lat
    else:
        series = gpd.GeoSeries([lonlat], crs=4326)
    return series.to_crs(crs) if crs is not None else series.set_crs(None, allow_override=True)


def _count_scale(highest: int, cmap: str, *, lowest: int = 1) -> tuple[Any, Any, list[int]]:
    """Return a colour map of one colour per whole count from ``lowest`` to ``highest``, its norm and ticks."""
    import matplotlib
    from matplotlib.colors import BoundaryNorm
    from matplotlib.ticker import MaxNLocator

    highest = max(highest, lowest)
    levels = highest - lowest + 1
    colours = matplotlib.colormaps[cmap].resampled(levels)
    norm = BoundaryNorm(np.arange(lowest - 0.5, highest + 1.5), levels)
    ticks = [int(t) for t in MaxNLocator(nbins=10, integer=True).tick_values(lowest, highest) if lowest <= t <= highest]
    return colours, norm, ticks


def _path_rows(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One footprint per WRS-2 path/row (the first scene's) with its number of scenes."""
    import geopandas as gpd

    known = frame[frame["path"].notna() & frame["row"].notna()]
    groups = known.groupby(["path", "row"], sort=True)
    first = groups.head(1).set_index(["path", "row"]).sort_index()
    cells = gpd.GeoDataFrame(
        {"scenes": groups.size().loc[first.index].to_numpy()},
        geometry=first.geometry.to_numpy(),
        index=first.index,
        crs=frame.crs,
    )
    return cells.reset_index()


def _crs_name(data: Any) -> str | None:
    import pyproj
    import rioxarray  # noqa: F401 - registers DataArray.rio

    try:
        crs = data.attrs.get("crs") or data.rio.crs
        name = pyproj.CRS.from_user_input(crs).name if crs is not None else None
    except (AttributeError, pyproj.exceptions.CRSError):  # no CRS, or one pyproj cannot read: the axes say "km" only
        return None
    return None if name in (None, "unknown") else name


def _label(column: str) -> str:
    return {"cloud_cover": "cloud cover (%)"}.get(column, column.replace("_", " "))


def _label_axes(ax: Axes, crs: Any) -> None:
    if crs is not None and getattr(crs, "is_geographic", False):
        ax.set_xlabel("longitude (°)")
        ax.set_ylabel("latitude (°)")


def _with_size(url: str, size: str) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    if size not in BROWSE_SIZES:
        raise InvalidInputError(f"size must be one of {BROWSE_SIZES}; got {size!r}")
    parts = urlsplit(url)
    query = [(k, size if k == "size" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    if not any(k == "size" for k, _ in query):
        query.append(("size", size))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _browse_bytes(response: Any, url: str) -> bytes:
    """Return the image bytes of a browse answer, or raise the typed error its status describes."""
    status = response.status_code
    fields = {"service": "browse", "status": status, "url": url}
    if status >= 400:
        message = f"GET {url}: HTTP {status} {response.reason or ''}".strip()
        raise status_error(status, message, service="browse", url=url, retry_after=retry_after_seconds(response))
    content = response.content
    if not content.startswith((_PNG, _JPEG)):
        kind = response.headers.get("Content-Type", "unknown type")
        raise ApiError(f"GET {url}: the answer is not a PNG or JPEG image ({kind}, {len(content)} bytes)", **fields)
    return content


def _browse_title(row: pd.Series) -> str:
    title = str(row.get("display_id", ""))
    details = []
    when = pd.to_datetime(row.get("acquired"), errors="coerce")
    if pd.notna(when):
        details.append(f"{when:%Y-%m-%d}")
    cloud = row.get("cloud_cover")
    if cloud is not None and pd.notna(cloud):
        details.append(f"cloud {float(cloud):.0f}%")
    return title + ("\n" + ", ".join(details) if details else "")
