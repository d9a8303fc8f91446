"""tinynets: Hydra + Lightning experiments for backprop by hand and MNIST under 20k parameters."""

__version__ = "0.1.0"
