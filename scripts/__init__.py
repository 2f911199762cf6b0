"""Developer scripts: the build, the linters, the demo, chaos and bench runs (see the Makefile)."""
