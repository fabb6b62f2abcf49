"""ResNets for CIFAR (as in the common CIFAR recipes, e.g. kuangliu/pytorch-cifar): 3x3 stem, no max-pool.

One `ResNet` class builds the post-activation ResNets (He et al. 2016a), the pre-activation
ResNet-18 (He et al. 2016b: BN-ReLU before each conv, a final BN-ReLU) and Wide ResNets
(Zagoruyko & Komodakis 2016: pre-activation, 16-channel stem, three wide stages).
"""
from typing import List, Sequence, Type, Union

from backend import flow, nn, F


def projection(cin: int, cout: int, stride: int, norm: bool = True) -> nn.Module:
    """1x1 conv shortcut when a block changes resolution or width; identity otherwise."""
    if stride == 1 and cin == cout:
        return nn.Identity()
    conv = nn.Conv2d(cin, cout, 1, stride, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(cout)) if norm else conv


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = projection(cin, cout, stride)

    def forward(self, x: flow.Tensor) -> flow.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = projection(cin, cout, stride)

    def forward(self, x: flow.Tensor) -> flow.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class PreActBlock(nn.Module):
    """BN-ReLU-conv twice; the projection shortcut reads the pre-activated input. Optional dropout (WRN)."""

    expansion = 1

    def __init__(self, cin: int, cout: int, stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = projection(cin, cout, stride, norm=False)

    def forward(self, x: flow.Tensor) -> flow.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = x if isinstance(self.shortcut, nn.Identity) else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + shortcut


Block = Type[Union[BasicBlock, Bottleneck, PreActBlock]]


class ResNet(nn.Module):
    """Stem (3x3 conv), stages of `layers[i]` blocks of width `widths[i]` (stride 2 from the second stage), pool, fc."""

    def __init__(self, block: Block, layers: List[int], num_classes: int = 100,
                 widths: Sequence[int] = (64, 128, 256, 512), stem_width: int = 64, **block_kwargs) -> None:
        super().__init__()
        preact = block is PreActBlock
        stem = [nn.Conv2d(3, stem_width, 3, 1, 1, bias=False)]
        self.stem = nn.Sequential(*stem) if preact else nn.Sequential(*stem, nn.BatchNorm2d(stem_width), nn.ReLU(inplace=True))
        stages, cin = [], stem_width
        for i, (width, blocks) in enumerate(zip(widths, layers)):
            for j in range(blocks):
                stages.append(block(cin, width, 2 if (i > 0 and j == 0) else 1, **block_kwargs))
                cin = width * block.expansion
        self.stages = nn.Sequential(*stages)
        # Pre-activation nets end with the BN-ReLU the last block leaves out.
        self.final = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True)) if preact else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: flow.Tensor) -> flow.Tensor:
        return self.fc(self.pool(self.final(self.stages(self.stem(x)))).flatten(1))


def resnet18(num_classes: int = 100) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


def resnet34(num_classes: int = 100) -> ResNet:
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes)


def resnet50(num_classes: int = 100) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


def preact_resnet18(num_classes: int = 100) -> ResNet:
    return ResNet(PreActBlock, [2, 2, 2, 2], num_classes)


def wide_resnet(depth: int = 28, widen_factor: int = 10, dropout: float = 0.0, num_classes: int = 100) -> ResNet:
    """WRN-depth-k: (depth - 4) / 6 pre-activation blocks in each of three stages of width 16k, 32k, 64k."""
    if (depth - 4) % 6:
        raise ValueError(f"Wide ResNet depth={depth} is not 6n+4 (e.g. 16, 22, 28, 40)")
    n = (depth - 4) // 6
    return ResNet(PreActBlock, [n, n, n], num_classes, widths=(16 * widen_factor, 32 * widen_factor, 64 * widen_factor),
                  stem_width=16, dropout=dropout)
