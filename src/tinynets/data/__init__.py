"""Data: MNIST preparation (prepare), the tensor pipeline (mnist) and the classic one (torchvision_dm).

MNIST's normalisation constants live here (no heavy imports) for every module that feeds a net."""

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels in [0, 1]
PADDING = ("zeros", "reflection")  # what data.augment.padding may be (grid_sample's padding modes we use)
