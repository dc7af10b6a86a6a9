"""Open Collection 2 products (Level-2 and Level-1) lazily as xarray: one scene, or a time stack on one grid.

Supported packings, read in place, never extracted: a product folder (flat or its files under one top
folder), a plain ``.tar`` (USGS bundle) and a gzip tar (``.tar.gz``/``.tgz``: ESPA orders, gzipped USGS
bundles), any case of file name or extension, or a loose product file. Nothing is read at build time but
metadata and raster headers; pixels are read when a chunk is computed, so graphs pickle and run on
``dask.distributed``.

One module per concern:

=================  =======================================================================================
``_products``      what a source holds: products assembled from the members present, de-duplication
``_access``        how bytes are obtained (folder files, tar via ``/vsisubfile``, gzip tars via ``_gzindex``)
``_grid``          grid decisions from raster headers: limits, target grid, separate areas, crops
``_decode``        DN -> physical values (Level-2 scale, Level-1 TOA reflectance and brightness temperature)
``_chunks``        the picklable chunk task and the function dask runs for it
``_graph``         dask arrays and variable attributes
``_api``           :func:`open_scene` and :func:`open_stack`
=================  =======================================================================================

Layering: this package sits above :mod:`.._bands`, :mod:`.._qa` and :mod:`.._mtl` (pure) and imports
rasterio, dask and rioxarray inside functions, so ``import lsru_geo`` stays light.
"""

from ._access import RasterRef, open_raster
from ._api import PATH_COLUMNS, open_scene, open_stack
from ._chunks import pixel_reads, read_chunk
from ._grid import Grid
from ._products import Product, discover_products, find_product, product_grid

__all__ = [
    "PATH_COLUMNS",
    "Grid",
    "Product",
    "RasterRef",
    "discover_products",
    "find_product",
    "open_raster",
    "open_scene",
    "open_stack",
    "pixel_reads",
    "product_grid",
    "read_chunk",
]
