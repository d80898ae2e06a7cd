"""TĐKT Flow's BPM engine: definitions, runtime, persistence and services. Knows nothing of HTTP."""
