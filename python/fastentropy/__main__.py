"""``python -m fastentropy``: the worked example and a speed comparison; ``score`` for files."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
