"""Adversarial motion priors: features (features.py); discriminator and style reward."""
