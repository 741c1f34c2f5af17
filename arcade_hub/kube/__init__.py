"""Kubernetes backend: pure manifest builders and the KubeSpawner subclass."""
