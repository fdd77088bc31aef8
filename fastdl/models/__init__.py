"""The classic CNNs, from LeNet-5 to DenseNet.

Every constructor takes ``num_classes`` (1000 by default; 10 for LeNet-5) and builds a
float32 model whose parameter count is the reference's (torchvision's where torchvision
has the model; shared/MODELS.md lists them) and whose ``state_dict`` keys are
torchvision's. ``small_input=True`` gives the CIFAR stem (3x3 conv, no max pool) for
32x32 images where it makes sense (VGG, ResNet, pre-activation ResNet, ResNeXt,
DenseNet). :func:`summary` tabulates a model; :func:`load_torch_state_dict` reads a
torch checkpoint into one.
"""

from fastdl.models.alexnet import AlexNet, alexnet
from fastdl.models.bn_inception import BNInception, bn_inception
from fastdl.models.densenet import DenseNet, densenet121, densenet169, densenet201
from fastdl.models.googlenet import GoogLeNet, GoogLeNetOutputs, googlenet
from fastdl.models.inception import Inception3, InceptionOutputs, inception_v3
from fastdl.models.inception_v4 import (InceptionResNetV2, InceptionV4, inception_resnet_v2,
                                       inception_v4)
from fastdl.models.lenet import LeNet5, lenet5
from fastdl.models.preact_resnet import (PreActResNet, preact_resnet18, preact_resnet34,
                                         preact_resnet50)
from fastdl.models.resnet import (ResNet, resnet18, resnet34, resnet50, resnet101, resnet152,
                                  resnext50_32x4d, resnext101_32x8d)
from fastdl.models.utils import LayerInfo, ModelSummary, load_torch_state_dict, summary
from fastdl.models.vgg import (VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19,
                               vgg19_bn)

__all__ = [
    "lenet5", "alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn",
    "vgg19", "vgg19_bn", "googlenet", "bn_inception", "inception_v3", "inception_v4",
    "inception_resnet_v2", "resnet18", "resnet34",
    "resnet50", "resnet101", "resnet152", "preact_resnet18", "preact_resnet34",
    "preact_resnet50", "resnext50_32x4d", "resnext101_32x8d", "densenet121", "densenet169",
    "densenet201",
    "LeNet5", "AlexNet", "VGG", "GoogLeNet", "GoogLeNetOutputs", "BNInception", "Inception3",
    "InceptionOutputs", "InceptionV4", "InceptionResNetV2", "ResNet", "PreActResNet", "DenseNet",
    "summary", "ModelSummary", "LayerInfo", "load_torch_state_dict",
]
