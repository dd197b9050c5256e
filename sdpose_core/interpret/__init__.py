"""sdpose_core.interpret"""
