"""The `arcade` hub-managed service: platform APIs that need more than JupyterHub's REST API
(launching desktop apps into a session now; the skaha-compatible sessions API later)."""
