"""GANs (WGAN-GP, DCGAN): models, settings, data, training job, checkpoints, sampler, quality gate."""
