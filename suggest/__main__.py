"""``python -m suggest`` runs the command-line tool."""

from suggest.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
