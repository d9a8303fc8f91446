"""Data: MNIST preparation (prepare), the tensor pipeline (mnist) and the classic one (torchvision_dm)."""
