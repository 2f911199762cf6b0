"""The local AWS twin shared by the tests and `make demo` (see local/twin.py)."""
