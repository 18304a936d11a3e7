"""Ground of the rig: the contract, the time model, histograms, the config layer (pydantic base,
scenario and fault schemas, secret masking), the run folder, process supervision and readiness.
Imports nothing else of the project (checked by `make lint`)."""
