"""A GAN job killed after its cancel grace (before its last checkpoint) redoes those steps when
resumed: the loss curve shows each step once, with the redone values."""

import numpy as np

from spinegui.ui.gan.loss_plot import Series


def test_redone_steps_replace_the_old_points():
    s = Series()
    s.extend(np.array([1.0, 2.0, 3.0, 4.0]), np.array([10.0, 20.0, 30.0, 40.0]))
    s.extend(np.array([4.0, 5.0]), np.array([41.0, 50.0]))     # resumed from the epoch-3 checkpoint
    assert s.x.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert s.y.tolist() == [10.0, 20.0, 30.0, 41.0, 50.0]
    s.extend(np.array([6.0]), np.array([60.0]))                  # and goes on as before
    assert s.x.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
