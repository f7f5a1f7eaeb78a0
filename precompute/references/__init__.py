"""Reference datasets (ImageNet, ImageNetV2, ImageNet-Captions, webdataset) into a database."""
