"""The churn scoring service."""
