"""Watching the served model: the prediction log, outcomes, drift, live quality, the retraining decision."""
