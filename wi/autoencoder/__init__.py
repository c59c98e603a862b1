"""Adaptive recurrent spiking autoencoder (Gutierrez & Denève, eLife 2019)."""
