"""State of the local Amplitude."""
