"""The run folder: writer.py (what a run writes to disk), jsonlines.py (its streamed JSON-lines files,
written and read) and reader.py (what reports read back)."""
