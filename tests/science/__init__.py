"""Tests of the science floor: ``nkwidgets/_science/``."""
