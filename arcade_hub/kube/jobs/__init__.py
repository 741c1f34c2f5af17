"""Batch jobs on Kubernetes: Indexed Jobs, their pods, logs and reconciliation."""
