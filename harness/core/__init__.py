"""Ground of the rig: the contract, the time model, histograms, scenario and fault schemas, the run folder,
process supervision and readiness. Imports nothing else of the project (checked by `make lint`)."""
