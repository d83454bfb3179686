"""GAN choices that settings, command line and panel need without importing torch."""

SIZES = (64, 128, 256)
ARCHS = ("wgan-gp", "wgan", "dcgan")
NOISE_DIM = 128
WIDTHS = (8, 256)          # base feature maps, lowest and highest (gan.settings offers the same)
MAX_EPOCHS = 100_000       # as gan.settings' "epochs"
MAX_CLASSES = 64           # classes of one conditional model; VinDr-SpineXR has 8
