"""The `calolab` command line (the top layer: nothing in the library imports it)."""
