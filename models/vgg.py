"""VGG-16 with batch norm for CIFAR (as in kuangliu/pytorch-cifar): 13 3x3 convs, five max-pools, one linear layer."""
from backend import flow, nn

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG(nn.Module):
    def __init__(self, layout: list = VGG16, num_classes: int = 100) -> None:
        super().__init__()
        layers, cin = [], 3
        for item in layout:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, item, 3, padding=1, bias=False), nn.BatchNorm2d(item), nn.ReLU(inplace=True)]
                cin = item
        self.features = nn.Sequential(*layers)  # 32x32 -> 1x1 after five pools
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: flow.Tensor) -> flow.Tensor:
        return self.classifier(self.features(x).flatten(1))


def vgg16_bn(num_classes: int = 100) -> VGG:
    return VGG(VGG16, num_classes)
