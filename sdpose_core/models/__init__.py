"""sdpose_core.models: StemNet, TokenPose encoder + Multi-Cycled Transformer, heads, teachers, zoo.

Every model is called as ``model(images, cycles=None, return_attention=False) -> list[CycleOutput]``.
"""
from .cnn import CNNPoseModel
from .config import ModelConfig
from .flops import count_flops, count_params
from .heads import HeatmapHead, RegressionHead, SimCCHead, build_head
from .outputs import CycleOutput
from .position import sine_position_table
from .stem import StemNet
from .tokenpose import TokenPoseEncoder, TokenPoseModel
from .transformer import Attention, Block, FeedForward, Transformer
from .zoo import ZOO, build_model, describe_models, get_config, model_names

__all__ = [
    "Attention", "Block", "CNNPoseModel", "CycleOutput", "FeedForward", "HeatmapHead", "ModelConfig",
    "RegressionHead", "SimCCHead", "StemNet", "TokenPoseEncoder", "TokenPoseModel", "Transformer", "ZOO",
    "build_head", "build_model", "count_flops", "count_params", "describe_models", "get_config",
    "model_names", "sine_position_table",
]
