"""sdpose_core.io"""
