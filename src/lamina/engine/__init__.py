"""The engine: Layer base, symbolic tensors, models, the trainer, data adapters, saving."""
