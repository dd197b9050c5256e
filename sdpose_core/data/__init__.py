"""Data: the SynthPose generator, COCO-format top-down datasets, transforms and codecs."""
