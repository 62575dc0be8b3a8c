"""What is deployed where, what happened, what can be restored, and deploy metrics.

Pure functions shape and render plain data (``data``, ``text``, ``metrics``,
``prometheus``); ``read`` and ``health`` are the only ones that touch files and
Docker.
"""
