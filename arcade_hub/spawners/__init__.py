"""JupyterHub spawners of the two backends and what they share (the hub glue)."""
