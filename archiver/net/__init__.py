"""The one HTTP policy: bounded, guarded fetching, the worker pool, and the outage rule."""
