"""sdpose_core.models"""
