"""GAN choices that settings, command line and panel need without importing torch."""

SIZES = (64, 128, 256)
ARCHS = ("wgan-gp", "wgan", "dcgan")
NOISE_DIM = 128
