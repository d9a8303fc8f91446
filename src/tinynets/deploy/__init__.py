"""Using a trained model: load.py (a run's best checkpoint and the network rebuilt from its config),
export.py (`python -m tinynets.deploy.export`: ONNX or TorchScript), predict.py (`python -m
tinynets.deploy.predict`: the digit in a picture), digits.py (a picture made into an MNIST-style input)."""
