"""``python -m lsru_geo`` runs the ``lsru-geo`` command."""

from .cli import main

raise SystemExit(main())
