"""Entry point for ``python -m precompute``."""

from precompute.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
