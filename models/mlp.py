from backend import nn


class MLP(nn.Module):
    """Two hidden ReLU layers on the flattened 32x32x3 image: a model with no convolution, for workload variety."""

    def __init__(self, num_classes: int = 100, width: int = 256) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, width), nn.ReLU(inplace=True),
                                    nn.Linear(width, width), nn.ReLU(inplace=True), nn.Linear(width, num_classes))

    def forward(self, x):
        return self.layers(x)
