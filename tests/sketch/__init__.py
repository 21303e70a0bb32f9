"""Tests of nkwidgets/_sketch/ (random-feature sketches of NNGP and NTK)."""
