"""Kubernetes manifest loading, typed views of objects, and the K8S rules."""
