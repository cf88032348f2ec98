"""csvdock: load CSV files into a database fast, without losing a row.

The library is plain functions over files, Arrow and Polars frames; it never imports Luigi.
The Luigi tasks in ``luigi_tasks`` and the ``csvdock`` CLI are thin layers on top of it.
"""

__version__ = "0.1.0"
