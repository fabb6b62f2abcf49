"""CIFAR models (32x32 inputs); each is built by Hydra from conf/model/<name>.yaml."""
