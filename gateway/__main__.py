"""``python -m gateway``: the same as the ``mpp-gateway`` command."""

from .cli import main

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
