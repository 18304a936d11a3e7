"""Reading a finished (or interrupted) run folder: the SLA report (report/) and the diagnosis (diagnose/)."""
