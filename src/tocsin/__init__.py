"""Tocsin: a self-hosted incident-response platform that runs your runbook."""

__version__ = "0.1.0"
