"""`python -m factory_analytics` is the same as the `factory-analytics` console script."""

from factory_analytics.cli import main

raise SystemExit(main())
