"""sdpose_core.viz"""
