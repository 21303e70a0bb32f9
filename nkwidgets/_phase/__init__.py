"""Learning-rate phases (catapult) and the order–chaos diagram; public face: ``nkwidgets.phase``."""
