"""tinynets: Hydra + Lightning experiments for backprop by hand and MNIST under 20k parameters."""

__version__ = "0.1.0"

from tinynets import resolvers as _resolvers  # noqa: E402  (conf/ uses them: register on import)

_resolvers.register()
