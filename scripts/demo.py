"""Local demo of the whole workflow on the AWS twin.

The demo arrives with the operations issue (deploy, rerun, backfill); until then this script
only says so, so that `make demo` works from a fresh clone.
"""

from __future__ import annotations

import sys


def main() -> int:
    print("The local demo arrives with the operations work; run `make test` meanwhile.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
