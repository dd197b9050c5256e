"""sdpose_core.distill"""
