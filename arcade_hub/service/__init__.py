"""The `arcade` hub-managed service: platform APIs that need more than JupyterHub's REST API —
launching desktop apps into a session (`apps`) and the skaha-compatible sessions API with
headless batch jobs (`skaha`, `sessions`)."""
