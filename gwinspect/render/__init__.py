"""Renderers: the terminal timeline (rich) lives in :mod:`gwinspect.render.terminal`."""
