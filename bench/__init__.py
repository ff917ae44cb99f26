"""`make bench` (python -m bench.run): the platform's speed goals, measured; see run.py."""
