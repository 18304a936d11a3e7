"""The run folder: writer.py (what a run streams to disk) and reader.py (what reports read back)."""
