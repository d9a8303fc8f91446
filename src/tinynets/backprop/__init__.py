"""The backprop sheet: a 2-2-2 sigmoid network whose gradients are derived by hand, checked
against autograd every step, and written out as a csv, a live-formula xlsx and figures.

    python train.py experiment=backprop_sheet sheet=eva lr=0.5
    python train.py -m experiment=backprop_sheet lr=0.1,0.2,0.5,0.8,1.0,2.0

Modules: `tiny` (forward pass and hand-derived gradients, torch only), `module` (the
LightningModule and the one-sample data), `sheet` (csv, xlsx, png), `runner` (one run),
`sweep` (the end-of-multirun summary), `report` (experiments/backprop_sheet/README.md)."""
