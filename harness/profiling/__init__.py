"""Profiles of a running target: py-spy recording (pyspy.py) and the stack views read from it (stacks.py)."""
