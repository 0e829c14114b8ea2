"""(issue 20: being written)"""
