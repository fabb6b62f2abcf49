"""DenseNet-BC (Huang et al. 2017) for CIFAR (as in kuangliu/pytorch-cifar): 3x3 stem of 2k channels, no max-pool."""
from typing import Sequence

from backend import flow, nn, F


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv to 4k channels, BN-ReLU-3x3 conv to k channels; output concatenated to the input."""

    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: flow.Tensor) -> flow.Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return flow.cat([out, x], dim=1)


def transition(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1, bias=False), nn.AvgPool2d(2))


class DenseNet(nn.Module):
    def __init__(self, blocks: Sequence[int] = (6, 12, 24, 16), growth: int = 32, reduction: float = 0.5,
                 num_classes: int = 100) -> None:
        super().__init__()
        channels = 2 * growth
        layers = [nn.Conv2d(3, channels, 3, padding=1, bias=False)]
        for i, count in enumerate(blocks):
            for _ in range(count):
                layers.append(DenseLayer(channels, growth))
                channels += growth
            if i < len(blocks) - 1:
                reduced = int(channels * reduction)
                layers.append(transition(channels, reduced))
                channels = reduced
        layers += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: flow.Tensor) -> flow.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


def densenet121(num_classes: int = 100) -> DenseNet:
    return DenseNet((6, 12, 24, 16), growth=32, num_classes=num_classes)
