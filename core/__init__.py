"""Everything in Spyglass that is not UI: model runtime, engines, ingestion, agent, store, server.

`core` may import `kernels` but never Qt (PySide6) and never `app`, so it runs headless
in tests, servers and scripts; tests/test_foundation.py enforces this.
"""
