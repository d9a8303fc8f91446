"""tinynets: Hydra + Lightning experiments for backprop by hand and MNIST under 20k parameters."""

__version__ = "0.1.0"

from tinynets import config as _config  # noqa: E402  (conf/ uses its resolvers: register on import)

_config.register()
