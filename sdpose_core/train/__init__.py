"""sdpose_core.train"""
