"""The local model server: MLflow's scoring protocol for every model, hot-swappable versions."""
