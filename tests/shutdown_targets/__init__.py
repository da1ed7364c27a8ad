"""Small programs that tests/test_graceful_shutdown.py runs as subprocesses and stops."""
