"""Amplitude's behavioral cohorts API: the client and its typed errors."""
