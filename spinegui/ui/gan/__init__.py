"""The GAN tab: settings form, runs list, loss plot, samples browser."""
