"""``python3 -m app.web.catalog``, the command the docs have long given: the
catalogue tool is app/web/infra/catalog.py."""

import sys

from app.web.infra.catalog import main

if __name__ == "__main__":
    sys.exit(main())
