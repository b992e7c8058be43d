"""The core: the catalog (SQLite), the status board, the transfer workers."""
