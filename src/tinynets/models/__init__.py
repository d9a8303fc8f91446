"""Networks (blocks, zoo) and the LightningModules that train them."""
