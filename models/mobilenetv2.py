"""MobileNetV2 (Sandler et al. 2018) for CIFAR: stride-1 stem and second stage (as in kuangliu/pytorch-cifar), so 32x32 ends at 4x4."""
from backend import flow, nn

# (expansion, out channels, blocks, stride of the first block); strides 2 -> 1 in the stem and stage 2 for 32x32.
CIFAR_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU6()) if act else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1x1 expand, 3x3 depthwise, 1x1 linear projection; residual when shape is unchanged."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        layers = [conv_bn(cin, hidden, 1)] if expansion != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, cout, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: flow.Tensor) -> flow.Tensor:
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 100, width_mult: float = 1.0) -> None:
        super().__init__()
        cin = int(32 * width_mult)
        layers = [conv_bn(3, cin, 3, 1)]
        for expansion, channels, blocks, stride in CIFAR_SETTINGS:
            cout = int(channels * width_mult)
            for i in range(blocks):
                layers.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expansion))
                cin = cout
        last = max(1280, int(1280 * width_mult))
        layers.append(conv_bn(cin, last, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(last, num_classes)

    def forward(self, x: flow.Tensor) -> flow.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


def mobilenetv2(num_classes: int = 100) -> MobileNetV2:
    return MobileNetV2(num_classes)
