"""Headless batch jobs: one request, N instances, run by a bounded worker pool and kept in a
store that survives restarts of the service and the hub."""
