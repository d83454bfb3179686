"""Torch plumbing shared by gan and train: devices and torchrun/DDP, the background checkpoint writer."""
