"""``python -m lsru_geo`` runs the ``lsru-geo`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
