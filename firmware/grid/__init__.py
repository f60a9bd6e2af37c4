# Grid-side control: fixed-point libraries for PLL_SYNC, CURRENT_CTRL and DROOP_CTRL.
