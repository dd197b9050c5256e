"""sdpose_core.evaluate"""
